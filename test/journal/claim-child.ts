// Child of the claim race test (journal.test.ts): opens the journal of each given data dir at
// its given moment (ms since the epoch, busy-waiting for it, so two children try at once),
// keeps what it opened, and prints one line per dir: "claimed" or "refused".
import { Journal } from '../../journal/journal.ts';

const rounds = JSON.parse(process.argv[2]) as { dir: string; at: number }[];
const held: Journal[] = [];
const out: string[] = [];
for (const { dir, at } of rounds) {
  while (Date.now() < at) {
    // spin: a timer would wake the two children too far apart
  }
  try {
    held.push(Journal.open(dir));
    out.push('claimed');
  } catch {
    out.push('refused');
  }
}
process.stdout.write(JSON.stringify(out) + '\n');
for (const j of held) await j.close();
