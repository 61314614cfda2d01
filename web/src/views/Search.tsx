// Message search through the relay: messages not loaded (or older than any page seen) are
// found too. The sidebar looks through every conversation, a conversation's search bar through
// that one. Newest first, a page at a time ("More"); a hit opens its conversation at it.
import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText, searchMessages, showMessage, type HitPage } from '../app.ts';
import { attachmentLine, shortTime } from './Sidebar.tsx';

/** Shorter words find too much to be worth a trip to the relay. */
export const SEARCH_MIN_CHARS = 2;
/** Wait for a pause in typing before asking the relay. */
const SEARCH_DEBOUNCE_MS = 300;
/** Characters shown before the first match in a hit's line. */
const EXCERPT_LEAD = 24;

/** The pages loaded so far as one (where to go on from: the last one's). */
interface Found extends HitPage {
  busy: boolean;
  error: string | null;
}

const NOTHING: Found = { hits: [], hasMore: false, nextBefore: null, busy: false, error: null };

/** Debounced relay search for `query` (at least SEARCH_MIN_CHARS); `more()` fetches the next page. */
export function useMessageSearch(query: string, peer?: string): Found & { more: () => void } {
  const q = query.trim();
  const [found, setFound] = useState<Found>(NOTHING);
  // Answers to a query that has changed since are dropped.
  const asked = useRef(0);
  const run = async (before: number | null) => {
    const n = ++asked.current;
    setFound((f) => ({ ...(before ? f : NOTHING), busy: true, error: null }));
    try {
      const page = await searchMessages(q, { peer, before });
      if (n === asked.current) setFound((f) => ({ hits: before ? [...f.hits, ...page.hits] : page.hits, hasMore: page.hasMore, nextBefore: page.nextBefore, busy: false, error: null }));
    } catch (err) {
      if (n === asked.current) setFound((f) => ({ ...f, busy: false, error: errorText(err) }));
    }
  };
  useEffect(() => {
    asked.current++;
    if (q.length < SEARCH_MIN_CHARS) return setFound(NOTHING);
    setFound({ ...NOTHING, busy: true });
    const t = setTimeout(() => void run(null), SEARCH_DEBOUNCE_MS);
    return () => clearTimeout(t);
  }, [q, peer]);
  return { ...found, more: () => found.nextBefore !== null && !found.busy && void run(found.nextBefore) };
}

/** The hit's text from a little before the first word searched for, so the match is in view. */
function excerpt(text: string, query: string): string {
  const word = query.trim().toLowerCase().split(/\s+/)[0] ?? '';
  const at = word ? text.toLowerCase().indexOf(word) : -1;
  return at > EXCERPT_LEAD ? `…${text.slice(at - EXCERPT_LEAD)}` : text;
}

/**
 * The hits for `query`: a status line ("3 found"), the list, and "More". With `peer` the hits
 * are of that conversation and do not name it.
 */
export function MessageHits({ query, peer }: { query: string; peer?: string }) {
  const s = useMessageSearch(query, peer);
  const n = s.hits.length;
  const status =
    query.trim().length < SEARCH_MIN_CHARS
      ? ''
      : s.error
        ? s.error
        : s.busy && n === 0
          ? 'Searching…'
          : n === 0
            ? s.hasMore
              ? 'None among the newest messages.'
              : 'No messages found.'
            : `${n}${s.hasMore ? '+' : ''} found`;
  return (
    <>
      <span class={s.error ? 'error' : 'muted'} role="status">
        {status}
      </span>
      {n > 0 && (
        <ul class="found">
          {s.hits.map((h) => {
            const sender = h.msg.outgoing ? 'You' : (h.msg.display_name ?? h.msg.from);
            const text = excerpt(h.msg.text, query) || attachmentLine(h.msg);
            return (
              <li key={h.msg.id}>
                <button class="hit" onClick={() => void showMessage(h.key, h.msg.id)}>
                  <span class="hit-head">
                    <strong>{peer ? sender : h.title}</strong>
                    <time dateTime={h.msg.created_at}>{shortTime(h.msg.created_at)}</time>
                  </span>
                  <span class="hit-text">
                    {/* In the list, who wrote it unless the conversation's name says so. */}
                    {!peer && (h.msg.outgoing || h.key.startsWith('group:')) ? `${sender}: ` : ''}
                    {text}
                  </span>
                </button>
              </li>
            );
          })}
        </ul>
      )}
      {s.hasMore && (
        <button class="link" disabled={s.busy} onClick={s.more}>
          {s.busy ? 'Searching…' : 'More'}
        </button>
      )}
    </>
  );
}
