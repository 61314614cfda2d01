// When a new message deserves a browser notification, and what it says. Pure: the controller
// passes what the page knows (visibility, focus, the open conversation, permission).

export interface NotifyContext {
  /** The user turned notifications on in Settings. */
  enabled: boolean;
  permission: 'granted' | 'denied' | 'default' | 'unsupported';
  visible: boolean;
  focused: boolean;
  /** The conversation on screen, if any. */
  active: string | null;
}

/** Notify unless the user is looking at that very conversation right now. */
export function shouldNotify(ctx: NotifyContext, convKey: string): boolean {
  if (!ctx.enabled || ctx.permission !== 'granted') return false;
  return !(ctx.visible && ctx.focused && ctx.active === convKey);
}

export interface NotifyMessage {
  from: string;
  display_name?: string | null;
  text: string;
  attachments: { kind: string; name?: string }[];
}

/** Title (sender, and the group in a group), body (text or what was attached), tag (one per conversation). */
export function notificationFor(m: NotifyMessage, convKey: string, convTitle: string): { title: string; body: string; tag: string } {
  const sender = m.display_name || m.from;
  const title = convKey.startsWith('group:') ? `${sender} · ${convTitle}` : sender;
  const a = m.attachments;
  const body = m.text.trim() || (a.length === 0 ? '' : a.length === 1 ? (a[0].kind === 'voice' ? 'Voice message' : `📎 ${a[0].name ?? a[0].kind}`) : `📎 ${a.length} files`);
  return { title, body, tag: `pchat:${convKey}` };
}
