// The start-up contract is an interface users script against: every flag the server takes is in the
// README's table with its environment variable, and the table names no flag the server lacks.
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';
import { FLAGS } from '../../server/config.js';
import { PROJECT_ROOT } from '../support/server-process.js';

describe('README: the start-up contract table', () => {
  const readme = fs.readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Start-up contract'), readme.indexOf('\n## ', readme.indexOf('## Start-up contract') + 1));
  const rows = section.split('\n').filter((l) => l.startsWith('| `--'))
    .map((l) => ({ flag: /^\| `(--[a-z0-9-]+)/.exec(l)![1]!, env: /\| `(EASMIME_[A-Z0-9_]+)` \|/.exec(l)?.[1] }));

  it('lists every flag with its environment variable', () => {
    for (const f of FLAGS) {
      const row = rows.find((r) => r.flag === f.flag);
      assert.ok(row, `${f.flag} is missing from the README's start-up contract`);
      assert.equal(row.env, f.env, `${f.flag}: the README names ${row.env}, the server reads ${f.env}`);
    }
  });

  it('lists no flag the server does not take (besides --help)', () => {
    const known = new Set([...FLAGS.map((f) => f.flag), '--help']);
    assert.deepEqual(rows.map((r) => r.flag).filter((f) => !known.has(f)), []);
  });
});
