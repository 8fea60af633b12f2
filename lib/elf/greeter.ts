/**
 * A tiny static Linux executable that prints a message and exits 0, generated
 * byte by byte (no compiler, no libc): a few hundred bytes that any container
 * runtime can run, so the examples and tests need nothing but npm.
 *
 * @module
 */

/** Architectures {@link greeterExecutable} can emit. */
export type GreeterArch = "amd64" | "arm64";

function u16(v: number): number[] {
  return [v & 0xff, (v >> 8) & 0xff];
}
function u32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}
function u64(v: number): number[] {
  return [...u32(v % 2 ** 32), ...u32(Math.floor(v / 2 ** 32))];
}

const BASE = 0x400000;
const HEADERS = 64 + 56; // ELF header + one program header

function code(arch: GreeterArch, length: number): number[] {
  if (arch === "amd64") {
    // write(1, msg, len); exit(0). msg follows the 33 code bytes; lea is rip-relative.
    return [
      0xb8,
      ...u32(1), // mov eax, 1 (write)
      0xbf,
      ...u32(1), // mov edi, 1 (stdout)
      0x48,
      0x8d,
      0x35,
      ...u32(16), // lea rsi, [rip+16]
      0xba,
      ...u32(length), // mov edx, len
      0x0f,
      0x05, // syscall
      0xb8,
      ...u32(60), // mov eax, 60 (exit)
      0x31,
      0xff, // xor edi, edi
      0x0f,
      0x05, // syscall
    ];
  }
  // arm64: 8 instructions, msg right after them (adr offset 28 from instruction 1).
  const adr = 0x10000000 | ((28 & 3) << 29) | (((28 >> 2) & 0x7ffff) << 5) | 1;
  return [
    0xd2800020, // mov x0, #1
    adr, // adr x1, msg
    0xd2800002 | ((length & 0xffff) << 5), // mov x2, #len
    0xd2800808, // mov x8, #64 (write)
    0xd4000001, // svc #0
    0xd2800000, // mov x0, #0
    0xd2800ba8, // mov x8, #93 (exit)
    0xd4000001, // svc #0
  ].flatMap(u32);
}

/**
 * A static ELF executable for `arch` that writes `message` to stdout and exits 0.
 *
 * @example
 * ```ts
 * import { buildImage, writeTextFile } from "../../mod.ts";
 *
 * const bytes = greeterExecutable("Hello from dockwright!\n", "arm64");
 * bytes.subarray(0, 4); // Uint8Array [0x7f, 0x45, 0x4c, 0x46], "\x7fELF"
 * buildImage({
 *   name: "hello",
 *   architecture: "arm64",
 *   copyToRoot: writeTextFile({ name: "hello", destination: "/hello", text: bytes, executable: true }),
 *   config: { Cmd: ["/hello"] },
 * });
 * ```
 */
export function greeterExecutable(message: string, arch: GreeterArch = "amd64"): Uint8Array {
  const msg = new TextEncoder().encode(message);
  if (msg.length > 0xffff) throw new RangeError("greeter message must be under 64 KiB");
  const body = [...code(arch, msg.length), ...msg];
  const fileSize = HEADERS + body.length;
  const machine = arch === "amd64" ? 0x3e : 0xb7;
  const header = [
    0x7f,
    0x45,
    0x4c,
    0x46,
    2,
    1,
    1,
    0,
    ...new Array(8).fill(0), // ELF64, little endian, SysV
    ...u16(2),
    ...u16(machine),
    ...u32(1), // ET_EXEC, machine, version
    ...u64(BASE + HEADERS),
    ...u64(64),
    ...u64(0), // entry, phoff, shoff
    ...u32(0),
    ...u16(64),
    ...u16(56),
    ...u16(1), // flags, ehsize, phentsize, phnum
    ...u16(64),
    ...u16(0),
    ...u16(0), // shentsize, shnum, shstrndx
  ];
  const program = [
    ...u32(1),
    ...u32(5), // PT_LOAD, R+X
    ...u64(0),
    ...u64(BASE),
    ...u64(BASE), // offset, vaddr, paddr
    ...u64(fileSize),
    ...u64(fileSize),
    ...u64(0x1000), // filesz, memsz, align
  ];
  return new Uint8Array([...header, ...program, ...body]);
}
