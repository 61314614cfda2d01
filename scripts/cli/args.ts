// Flags, flag-compatible with the seed's webchat_cli.py, plus --json, --code, --reply-to,
// --transport. Parsed with node:util parseArgs (strict: an unknown flag is a usage error).
import { parseArgs } from 'node:util';
import { CliError, EXIT, usage } from './errors.ts';

/** The seed's default watch interval (seconds). */
export const DEFAULT_INTERVAL_S = 2;
/** The seed's default inbox batch. */
export const DEFAULT_LIMIT = 20;

export interface Options {
  email?: string;
  name?: string;
  persona: string;
  chatAddress?: string;
  relay?: string;
  relayMode?: 'public' | 'private';
  computer?: string;
  sessionName?: string;
  listenChannel?: string;
  list: boolean;
  to?: string;
  message?: string;
  replyTo?: string;
  files: string[];
  caption?: string;
  attachmentKind: 'auto' | 'file' | 'voice';
  inbox: boolean;
  search?: string;
  limit: number;
  watch: boolean;
  interval: number;
  quietUrl: boolean;
  json: boolean;
  code?: string;
  transport: 'auto' | 'ws' | 'poll';
  help: boolean;
  version: boolean;
}

export const HELP = `webchat-cli — run a pChat persona from the command line (AI sessions, scripts, people)

Usage:
  webchat-cli EMAIL [options]              log in (or reuse the stored session), print the GUI URL
  webchat-cli EMAIL --to ADDR --message T  send a message
  webchat-cli EMAIL --inbox                claim and print new messages once
  webchat-cli EMAIL --watch                stay online and print messages as they arrive
  webchat-cli EMAIL --search WORDS         find your messages holding every word (newest first)
  webchat-cli --list                       list the personas stored on this computer

Identity:
  EMAIL                     the persona's email (first run: a login code is requested)
  --name NAME               display name
  --persona LABEL           a second persona for the same email (its own session and cursor)
  --chat-address ADDR       stable chat address (the relay refuses one that is taken)
  --relay URL               relay URL (default: the persona's relay, else $PCHAT_RELAY_URL,
                            else http://127.0.0.1:5110); without a scheme, http:// for
                            LAN and loopback hosts and https:// for any other
  --relay-mode MODE         public | private (shown in the GUI URL; default private)
  --computer NAME           device name shown in the directory
  --session-name NAME       session name shown in the directory
  --listen-channel CH       listen channel shown in the directory (default pchat)
  --code CODE               the 6-digit login code (when it was mailed to you)
  --quiet-url               do not print the GUI auto-login URL
  --list                    list stored personas (no network)

Send:
  --to ADDR                 a chat address, group:grp_… for a group, or your own for saved messages
  --message TEXT            message text
  --reply-to MSG_ID         reply to a message
  --file PATH               attach a file (repeat for several; they upload in parallel)
  --caption TEXT            caption for the attached files
  --attachment-kind KIND    auto | file | voice (auto: audio goes as a voice clip)

Receive:
  --inbox                   claim and print what arrived since the last run
  --limit N                 inbox batch size, or most search results (default ${DEFAULT_LIMIT})
  --search WORDS            your messages (sent and received, direct, saved and group) holding
                            every word, case and accents aside, newest first; --to ADDR (or
                            group:grp_…) looks in that conversation only
  --watch                   presence on, stream messages / edits / deletions / attachment links,
                            reconnect with backoff, presence off on Ctrl-C or SIGTERM
  --interval SECONDS        pause between polls when the relay cannot hold a long-poll, and the
                            base of the reconnect backoff (default ${DEFAULT_INTERVAL_S})
  --transport T             auto | ws | poll (watch; auto = WebSocket, falling back to long-poll)
  --json                    one JSON object per line on stdout, for programs

Examples:
  webchat-cli ai@example.com --name "Codex Agent" --chat-address codex-agent \\
      --relay https://relay.example.com --computer build-box --session-name "support worker"
  webchat-cli ai@example.com --to alex --message "build is green"
  webchat-cli ai@example.com --to group:grp_907d9fd48e3064f1 --message "deploying"
  webchat-cli ai@example.com --to alex --file ./report.pdf --file ./shot.png --caption "today"
  webchat-cli ai@example.com --to alex --file ./note.ogg            # sent as a voice clip
  webchat-cli ai@example.com --inbox --limit 50
  webchat-cli ai@example.com --search "deploy rollback" --to alex --json
  webchat-cli ai@example.com --watch --json --quiet-url | my-model-loop

Exit codes: 0 ok, 1 refused by the relay, 2 bad usage, 3 relay unreachable, 4 login failed.
Personas live in \${XDG_CONFIG_HOME:-~/.config}/pchat/personas/ (mode 0600; they hold tokens).
`;

/**
 * Free-text flags take the next argument whatever it starts with: a model's reply is often a
 * markdown list ("- item") or a number ("-3 °C"), which parseArgs would otherwise refuse as
 * "ambiguous" (the seed's argparse takes them). Joined as --flag=value before parsing.
 */
const TEXT_FLAGS = new Set(['--message', '--caption', '--name', '--search']);

function joinTextValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--') return out.concat(argv.slice(i));
    if (TEXT_FLAGS.has(argv[i]) && i + 1 < argv.length) out.push(`${argv[i]}=${argv[++i]}`);
    else out.push(argv[i]);
  }
  return out;
}

export function parse(argv: string[]): Options {
  let parsed;
  try {
    parsed = parseArgs({
      args: joinTextValues(argv),
      allowPositionals: true,
      strict: true,
      options: {
        name: { type: 'string' },
        persona: { type: 'string' },
        'chat-address': { type: 'string' },
        relay: { type: 'string' },
        'relay-mode': { type: 'string' },
        computer: { type: 'string' },
        'session-name': { type: 'string' },
        'listen-channel': { type: 'string' },
        list: { type: 'boolean' },
        to: { type: 'string' },
        message: { type: 'string' },
        'reply-to': { type: 'string' },
        file: { type: 'string', multiple: true },
        caption: { type: 'string' },
        'attachment-kind': { type: 'string' },
        inbox: { type: 'boolean' },
        search: { type: 'string' },
        limit: { type: 'string' },
        watch: { type: 'boolean' },
        interval: { type: 'string' },
        'quiet-url': { type: 'boolean' },
        json: { type: 'boolean' },
        code: { type: 'string' },
        transport: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    });
  } catch (err) {
    throw usage((err as Error).message.split('\n')[0].replace(/\. To specify a positional.*$/, ''));
  }
  const v = parsed.values;
  if (parsed.positionals.length > 1) throw usage(`one EMAIL only, got ${parsed.positionals.join(' ')}`);
  const oneOf = <T extends string>(flag: string, value: string | undefined, allowed: readonly T[], fallback: T): T => {
    if (value === undefined) return fallback;
    if (!allowed.includes(value as T)) throw usage(`--${flag} must be one of ${allowed.join(', ')}`);
    return value as T;
  };
  const number = (flag: string, value: string | undefined, fallback: number, min: number, max: number, integer: boolean) => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      throw usage(`--${flag} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
    }
    return n;
  };
  const email = parsed.positionals[0]?.trim().toLowerCase();
  if (email !== undefined && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) throw usage(`${JSON.stringify(parsed.positionals[0])} is not an email address`);
  if (v.code !== undefined && !/^[0-9]{6}$/.test(v.code.trim())) throw new CliError('--code must be the 6-digit code from the login mail', EXIT.usage);
  const relayMode = v['relay-mode'] === undefined ? undefined : oneOf('relay-mode', v['relay-mode'], ['public', 'private'] as const, 'private');
  return {
    email,
    name: v.name?.trim() || undefined,
    persona: v.persona?.trim() ?? '',
    chatAddress: v['chat-address']?.trim().toLowerCase() || undefined,
    relay: v.relay?.trim() || undefined,
    relayMode,
    computer: v.computer?.trim() || undefined,
    sessionName: v['session-name']?.trim() || undefined,
    listenChannel: v['listen-channel']?.trim() || undefined,
    list: !!v.list,
    to: v.to?.trim() || undefined,
    message: v.message,
    replyTo: v['reply-to']?.trim() || undefined,
    files: v.file ?? [],
    caption: v.caption,
    attachmentKind: oneOf('attachment-kind', v['attachment-kind'], ['auto', 'file', 'voice'] as const, 'auto'),
    inbox: !!v.inbox,
    search: v.search,
    limit: number('limit', v.limit, DEFAULT_LIMIT, 1, 500, true),
    watch: !!v.watch,
    interval: number('interval', v.interval, DEFAULT_INTERVAL_S, 0.1, 3600, false),
    quietUrl: !!v['quiet-url'],
    json: !!v.json,
    code: v.code?.trim(),
    transport: oneOf('transport', v.transport, ['auto', 'ws', 'poll'] as const, 'auto'),
    help: !!v.help,
    version: !!v.version,
  };
}

/** Rejects combinations that cannot mean anything. */
export function check(o: Options): void {
  if (o.help || o.version || o.list) return;
  if (!o.email) throw usage('give the persona EMAIL (or --list)');
  const sending = o.message !== undefined || o.files.length > 0;
  if (sending && !o.to) throw usage('--message and --file need --to');
  if (o.search !== undefined) {
    if (!o.search.trim()) throw usage('--search is empty');
    if (sending || o.inbox || o.watch) throw usage('--search goes alone (with --to for one conversation, --limit, --json)');
  }
  if (o.to && !sending && o.search === undefined) throw usage('--to needs --message or --file (or --search)');
  if (o.message !== undefined && !o.message.trim() && o.files.length === 0) throw usage('--message is empty');
  if (o.caption !== undefined && o.files.length === 0) throw usage('--caption goes with --file');
  if (o.replyTo && !o.to) throw usage('--reply-to goes with --to');
  if (o.inbox && o.watch) throw usage('--inbox and --watch do not go together');
}
