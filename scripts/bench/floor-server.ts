// The design floor: the throw-away prototype, rebuilt as small as it can be — Fastify,
// an XState inbox actor per receiver, one LMDB put per message, acknowledged after the commit
// AND the flush, then pushed to the receiver's parked poll or WebSocket. No auth, validation,
// rate limits, idempotency, receipts, conversations, history, sender's copy or loop guard.
// It speaks just enough of the relay's API for the same load generators (the session header
// is taken as the user's name, the address as the receiver's), so the bench can show, on the
// same machine in the same run, what the design itself costs and how far above it the relay
// is. Not a relay: nothing here is meant to be used. Prints {"port":N}; exits on SIGTERM.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import websocket from '@fastify/websocket';
import type { WebSocket } from 'ws';
import { open } from 'lmdb';
import { assign, createActor, setup, type Actor } from 'xstate';

interface Msg {
  seq: number;
  id: string;
  from: string;
  text: string;
  at: number;
}

/** An inbox: the messages not yet taken by a poll (what the prototype's actor held). */
const inboxMachine = setup({ types: { context: {} as { pending: Msg[] }, events: {} as { type: 'msg'; msg: Msg } | { type: 'taken' } } }).createMachine({
  context: { pending: [] },
  on: {
    msg: { actions: assign({ pending: ({ context, event }) => [...context.pending, event.msg] }) },
    taken: { actions: assign({ pending: () => [] }) },
  },
});

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'pchat-floor-'));
  const db = open({ path: dir, encoding: 'json' });
  const inboxes = new Map<string, Actor<typeof inboxMachine>>();
  const inbox = (user: string) => {
    let a = inboxes.get(user);
    if (!a) inboxes.set(user, (a = createActor(inboxMachine).start()));
    return a;
  };
  const parked = new Map<string, () => void>();
  const sockets = new Map<string, WebSocket>();
  let seq = 0;

  /** Stages one message, resolves once it is committed and flushed; then the receiver hears of it. */
  const send = async (from: string, to: string, text: string): Promise<Msg> => {
    const msg = { seq: ++seq, id: `m${seq}`, from, text, at: Date.now() };
    const written = db.put(msg.seq, msg);
    const flushed = new Promise<void>((resolve, reject) => db.flushed.then(() => resolve(), reject));
    inbox(to).send({ type: 'msg', msg });
    await written;
    await flushed;
    const ws = sockets.get(to);
    if (ws) {
      inbox(to).send({ type: 'taken' });
      ws.send(JSON.stringify({ type: 'message', seq: msg.seq, message: msg }));
    }
    parked.get(to)?.();
    return msg;
  };
  const take = (user: string): Msg[] => {
    const pending = inbox(user).getSnapshot().context.pending;
    if (pending.length) inbox(user).send({ type: 'taken' });
    return pending;
  };
  const user = (headers: Record<string, unknown>) => String(headers['x-pchat-session'] ?? '');

  const app = Fastify({ logger: false });
  await app.register(websocket);
  app.get('/health', async () => ({ ok: true }));
  app.post<{ Body: { to: string; text: string } }>('/api/v1/messages', async (req) => {
    const msg = await send(user(req.headers), req.body.to, req.body.text);
    return { success: true, message_id: msg.id, seq: msg.seq };
  });
  app.post<{ Body: { wait_ms?: number } }>('/api/v1/webchat/poll', async (req) => {
    const me = user(req.headers);
    let messages = take(me);
    if (!messages.length && req.body.wait_ms) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(wake, req.body.wait_ms);
        function wake() {
          clearTimeout(timer);
          parked.delete(me);
          resolve();
        }
        parked.set(me, wake);
        req.raw.once('close', wake);
      });
      messages = take(me);
    }
    return { success: true, messages };
  });
  app.get('/api/v1/webchat/ws', { websocket: true }, (socket: WebSocket, req) => {
    const me = user(req.headers);
    sockets.set(me, socket);
    socket.on('close', () => sockets.delete(me));
    socket.on('message', (data) => {
      const f = JSON.parse(String(data)) as { type: string; ref: string; to: string; text: string };
      if (f.type === 'send') void send(me, f.to, f.text).then((m) => socket.send(JSON.stringify({ type: 'ack', ref: f.ref, seq: m.seq })));
    });
    socket.send(JSON.stringify({ type: 'ready' }));
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  process.stdout.write(JSON.stringify({ port: typeof addr === 'object' && addr ? addr.port : 0 }) + '\n');
  process.once('SIGTERM', () =>
    void app.close().then(async () => {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    }),
  );
}

void main();
