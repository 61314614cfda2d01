// A person's picture where they set one (fetched once per file, as a blob: URL the CSP
// allows, so it also works against a private relay), else their initials on a colour.
import { useEffect, useState } from 'preact/hooks';
import { attachmentBlob } from '../features.ts';

function initialsOf(name: string): string {
  return (
    (name || '?')
      .split(/[\s._-]+/)
      .filter(Boolean)
      .slice(0, 2)
      .map((w) => [...w][0]?.toUpperCase())
      .join('') || '?'
  );
}

/**
 * `label` is the picture's text alternative. `decorative` hides it from assistive tech where
 * the name beside it says it all (a list option, whose name comes from its content).
 */
export function Avatar(props: { name: string; fileId?: string | null; label?: string; decorative?: boolean; online?: boolean }) {
  const [src, setSrc] = useState<string | null>(null);
  useEffect(() => {
    setSrc(null);
    if (!props.fileId) return;
    let live = true;
    attachmentBlob({ file_id: props.fileId }).then(
      (url) => live && setSrc(url),
      () => undefined, // no picture: the initials stay
    );
    return () => {
      live = false;
    };
  }, [props.fileId]);
  let h = 0;
  for (const ch of props.name) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return (
    <span class={`avatar hue-${h % 12}${src ? ' has-pic' : ''}`} aria-hidden={src && props.label && !props.decorative ? undefined : 'true'}>
      {src ? <img src={src} alt={props.label ?? ''} onError={() => setSrc(null)} /> : initialsOf(props.name)}
      {props.online && <span class="dot" />}
    </span>
  );
}
