import { afterAll } from "bun:test";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Every temporary file of one `bun test` run (and of the processes it spawns, which inherit
// TMPDIR) lives under one folder that is removed when the run ends: a run makes hundreds of
// databases and binaries, and on a shared machine they filled the disk.
const root = mkdtempSync(join(tmpdir(), "runtape-tests-"));
// As open as /tmp itself: some tests run commands as an unprivileged user.
chmodSync(root, 0o1777);
process.env.TMPDIR = root;
afterAll(() => rmSync(root, { recursive: true, force: true }));
