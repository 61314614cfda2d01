#!/usr/bin/env node
// An AI worker in 30 lines: webchat-cli --watch --json streams the inbox; each new message goes
// to MODEL_CMD (a shell command: prompt on stdin, reply on stdout); the reply is sent back.
// Usage: MODEL_CMD='llm -m gpt-4o' node ai-worker.mjs agent@example.com [--relay URL]
import { spawn, execFile } from 'node:child_process';
import { createInterface } from 'node:readline';

const cli = process.env.WEBCHAT_CLI ?? 'webchat-cli';
const [email, ...extra] = process.argv.slice(2);
const model = process.env.MODEL_CMD ?? 'cat';
const run = (cmd, args, input) => new Promise((resolve, reject) => {
  const p = execFile(cmd, args, { shell: !args.length }, (err, out) => (err ? reject(err) : resolve(out.trim())));
  if (input !== undefined) p.stdin.end(input);
});

const watch = spawn(cli, [email, ...extra, '--watch', '--json', '--quiet-url'], { stdio: ['ignore', 'pipe', 'inherit'] });
process.on('SIGTERM', () => watch.kill('SIGTERM')); // watch sets presence offline, then exits
for await (const line of createInterface({ input: watch.stdout })) {
  const ev = JSON.parse(line);
  if (ev.type !== 'message') continue; // also: ready, edit, delete, group, reconnecting, stopped
  const files = ev.attachments.map((a) => `\n[attachment ${a.kind}: ${a.url}]`).join('');
  const prompt = `${ev.display_name ?? ev.from} wrote: ${ev.text}${files}`;
  try {
    const reply = await run(model, [], prompt);
    const to = ev.group ? `group:${ev.group}` : ev.from;
    await run(cli, [email, ...extra, '--quiet-url', '--to', to, '--reply-to', ev.message_id, '--message', reply || '(no answer)']);
  } catch (err) {
    console.error(`worker: ${err.message}`);
  }
}
