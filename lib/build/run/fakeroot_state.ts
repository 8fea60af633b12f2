/**
 * fakeroot's save file (`fakeroot -s FILE`): what ownership, modes and device
 * numbers the commands under fakeroot believe files have.
 *
 * One line per file: `dev=<hex>,ino=<dec>,mode=<octal with type bits>,uid=<dec>,gid=<dec>,nlink=<dec>,rdev=<dec>`.
 *
 * @module
 */

/** What fakeroot recorded for one inode. */
export interface FakedStat {
  mode: number;
  uid: number;
  gid: number;
  rdev: number;
}

/** Recorded stats keyed by `"<dev>:<ino>"` (decimal). */
export type FakerootState = Map<string, FakedStat>;

/**
 * Parses a fakeroot save file.
 *
 * @example
 * ```ts
 * parseFakerootState("dev=fe00,ino=12,mode=100644,uid=1000,gid=100,nlink=1,rdev=0\n").get("65024:12")?.uid; // 1000
 * ```
 */
export function parseFakerootState(text: string): FakerootState {
  const out: FakerootState = new Map();
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const f = Object.fromEntries(line.split(",").map((kv) => kv.split("=", 2) as [string, string]));
    if (f.dev === undefined || f.ino === undefined) continue;
    out.set(`${parseInt(f.dev, 16)}:${f.ino}`, {
      mode: parseInt(f.mode, 8),
      uid: Number(f.uid),
      gid: Number(f.gid),
      rdev: Number(f.rdev ?? 0),
    });
  }
  return out;
}
