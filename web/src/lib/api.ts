// The relay's HTTP API as the app uses it. One instance per (relay, session token).
export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message);
  }
}

export type FetchLike = typeof fetch;

export class Api {
  constructor(
    public relay: string,
    public token: string | null,
    private fetcher: FetchLike = (...a) => fetch(...a),
  ) {
    this.relay = relay.replace(/\/+$/, '');
  }

  url(path: string): string {
    return this.relay + path;
  }

  async call<T = any>(method: string, path: string, body?: unknown, init: RequestInit = {}): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.token) headers['x-pchat-session'] = this.token;
    let payload: BodyInit | undefined;
    if (body instanceof FormData) payload = body;
    else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    let res: Response;
    try {
      res = await this.fetcher(this.url(path), { method, headers, body: payload, ...init });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw new ApiError(0, 'network', 'The relay cannot be reached.');
    }
    const text = await res.text();
    let data: any = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!res.ok || (data && data.success === false)) {
      throw new ApiError(res.status, data?.error ?? `http_${res.status}`, data?.message ?? `The relay answered ${res.status}.`);
    }
    return data as T;
  }

  get<T = any>(path: string, init?: RequestInit) {
    return this.call<T>('GET', path, undefined, init);
  }
  post<T = any>(path: string, body?: unknown, init?: RequestInit) {
    return this.call<T>('POST', path, body ?? {}, init);
  }
  put<T = any>(path: string, body?: unknown) {
    return this.call<T>('PUT', path, body ?? {});
  }
  del<T = any>(path: string) {
    return this.call<T>('DELETE', path);
  }

  /** Fetches a relay file with the session header and returns a blob: URL for it. */
  async blobUrl(path: string): Promise<string> {
    const headers: Record<string, string> = {};
    if (this.token) headers['x-pchat-session'] = this.token;
    const res = await this.fetcher(this.url(path), { headers });
    if (!res.ok) throw new ApiError(res.status, `http_${res.status}`, `The file could not be loaded (${res.status}).`);
    return URL.createObjectURL(await res.blob());
  }

  /** Multipart upload with progress (fetch has no upload progress; XHR does). */
  upload(path: string, file: Blob, name: string, onProgress?: (fraction: number) => void, extra: Record<string, string> = {}): Promise<any> {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', this.url(path));
      if (this.token) xhr.setRequestHeader('x-pchat-session', this.token);
      xhr.upload.onprogress = (e) => e.lengthComputable && onProgress?.(e.loaded / e.total);
      xhr.onerror = () => reject(new ApiError(0, 'network', 'The upload failed: the relay cannot be reached.'));
      xhr.onload = () => {
        let data: any = null;
        try {
          data = JSON.parse(xhr.responseText);
        } catch {
          /* not JSON */
        }
        if (xhr.status >= 200 && xhr.status < 300 && data?.success !== false) resolve(data);
        else reject(new ApiError(xhr.status, data?.error ?? `http_${xhr.status}`, data?.message ?? `Upload failed (${xhr.status}).`));
      };
      const form = new FormData();
      for (const [k, v] of Object.entries(extra)) form.append(k, v);
      form.append('file', file, name);
      xhr.send(form);
    });
  }
}
