/**
 * Registries: pullImage, push, pushIndex and credentials against the real
 * `docker-registry` (distribution 2.8) on 127.0.0.1: plain HTTP, TLS with
 * htpasswd basic auth, and token auth with a token server in this file.
 * A logging, fault-injecting proxy in front of the plain registry counts
 * blob requests and breaks responses; skopeo, umoci and podman check what
 * we push and what we build from what we pull.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { inspect } from "node:util";
import * as http from "node:http";
import { Buffer } from "node:buffer";
import { BlobStore } from "../lib/cache/blob_store.ts";
import type { Digest } from "../lib/codec/sha256.ts";
import { parseChallenge } from "../lib/transport/registry/auth.ts";
import { Credentials, findCredentials } from "../lib/transport/registry/credentials.ts";
import { parseSha256, sri, toNix32 } from "../lib/transport/registry/archive_hash.ts";
import { choosePlatform } from "../lib/model/platform.ts";
import { RegistryClient } from "../lib/transport/registry/client.ts";
import { pull } from "../lib/transport/registry/pull.ts";
import { parseReference } from "../lib/model/reference.ts";
import {
  AttributeError,
  build,
  buildImage,
  buildLayeredImage,
  greeterExecutable,
  pullImage,
  push,
  pushIndex,
  RegistryAuthError,
  RegistryNotFoundError,
  writeTextDir,
  writeTextFile,
} from "../mod.ts";
import { CLI, HELLO, RUNTIME, runTs } from "./helpers/dockwright.ts";
import {
  type Fault,
  htpasswdFile,
  makeCertificates,
  type ProxiedRequest,
  type Proxy,
  type RegistryServer,
  startProxy,
  startRegistry,
  startTokenServer,
  type TokenServer,
} from "./helpers/registry.ts";
import {
  lazyPodman,
  requireTools,
  rmrf,
  runOk,
  skopeoCopy,
  staticBusybox,
  tempDir,
  umociUnpack,
} from "./helpers/tools.ts";

const GREETING = "Hello from a registry!\n";
const sha256 = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest("hex");
const FAST = { tlsVerify: false, retryDelayMs: 5, attempts: 3 } as const;

function greeter(name: string, extra: Record<string, unknown> = {}) {
  return buildImage({
    name,
    tag: "latest",
    copyToRoot: writeTextFile({
      name: "hello",
      destination: "/bin/hello",
      text: greeterExecutable(GREETING),
      executable: true,
    }),
    config: { Cmd: ["/bin/hello"] },
    ...extra,
  });
}

/** Every blob under `cache` matches its name and `tmp/` is empty: nothing partial or wrong was kept. */
function assertCacheClean(cacheDir: string): void {
  assert.deepEqual(readdirSync(join(cacheDir, "tmp")), [], "no temp files left");
  const blobs = join(cacheDir, "blobs", "sha256");
  for (const name of existsSync(blobs) ? readdirSync(blobs) : []) {
    assert.equal(sha256(readFileSync(join(blobs, name))), name, `blob ${name} matches its name`);
  }
}

function blobRequests(proxy: Proxy, method: string, digest?: string) {
  return proxy.log.filter((r) =>
    r.method === method && r.path.includes("/blobs/") &&
    (!digest || decodeURIComponent(r.path).includes(digest))
  );
}

async function skopeoDigest(ref: string, extra: string[] = []): Promise<string> {
  const r = await runOk("skopeo", [
    "--insecure-policy",
    "inspect",
    "--tls-verify=false",
    ...extra,
    `docker://${ref}`,
  ]);
  return (JSON.parse(r.stdout) as { Digest: string }).Digest;
}

async function withEnv<T>(
  vars: Record<string, string | undefined>,
  fn: () => Promise<T>,
): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe("registry references, credentials and choices (no network)", () => {
  it("parses references as Docker does", () => {
    assert.deepEqual(parseReference("debian"), {
      registry: "docker.io",
      repository: "library/debian",
    });
    assert.deepEqual(parseReference("library/debian:12"), {
      registry: "docker.io",
      repository: "library/debian",
      tag: "12",
    });
    assert.deepEqual(parseReference("index.docker.io/nixos/nix"), {
      registry: "docker.io",
      repository: "nixos/nix",
    });
    const d = `sha256:${"a".repeat(64)}`;
    assert.deepEqual(parseReference(`127.0.0.1:5000/team/app:v1@${d}`), {
      registry: "127.0.0.1:5000",
      repository: "team/app",
      tag: "v1",
      digest: d,
    });
    assert.deepEqual(parseReference("localhost/app"), { registry: "localhost", repository: "app" });
    assert.deepEqual(parseReference("quay.io/coreos/etcd"), {
      registry: "quay.io",
      repository: "coreos/etcd",
    });
    assert.throws(() => parseReference("Debian"), /lowercase/);
    assert.throws(() => parseReference("app@sha256:123"), /digest/);
  });

  it("finds credentials in auth files and the environment, never printing the password", () => {
    const dir = tempDir("dw-creds-");
    try {
      const home = join(dir, "home");
      mkdirSync(join(home, ".docker"), { recursive: true });
      writeFileSync(
        join(home, ".docker", "config.json"),
        JSON.stringify({
          auths: {
            "https://index.docker.io/v1/": {
              auth: Buffer.from("hubuser:hub:pass").toString("base64"),
            },
            "reg.example:5000": { username: "alice", password: "alice-pw" },
            "reg.example:5000/team": { auth: Buffer.from("team:team-pw").toString("base64") },
            "desktop.example": {},
          },
          credsStore: "desktop",
          credHelpers: { "gcr.io": "gcloud" },
        }),
      );
      const authFile = join(dir, "auth.json");
      writeFileSync(
        authFile,
        JSON.stringify({
          auths: { "other.example": { auth: Buffer.from("bob:bob-pw").toString("base64") } },
        }),
      );
      const env = { REGISTRY_AUTH_FILE: authFile };
      const find = (registry: string, repo: string, extra: Record<string, unknown> = {}) =>
        findCredentials(registry, repo, { env, home, ...extra });
      const hub = find("docker.io", "library/debian").credentials!;
      assert.equal(hub.username, "hubuser");
      assert.equal(hub.password(), "hub:pass", "a password may contain ':'");
      assert.equal(find("reg.example:5000", "x/app").credentials!.username, "alice");
      assert.equal(
        find("reg.example:5000", "team/app").credentials!.username,
        "team",
        "the longest key wins",
      );
      assert.equal(
        find("other.example", "app").credentials!.source,
        `${authFile} (auths["other.example"]) (auth)`,
      );
      assert.match(find("gcr.io", "p/app").note!, /docker-credential-gcloud.*not support/);
      assert.match(find("desktop.example", "app").note!, /docker-credential-desktop/);
      assert.equal(find("nowhere.example", "app").credentials, undefined);
      // Environment variables: for the push target, or the host they name.
      const envCreds = {
        ...env,
        DOCKWRIGHT_REGISTRY_USER: "ci",
        DOCKWRIGHT_REGISTRY_PASSWORD: "ci-pw",
      };
      assert.equal(
        findCredentials("nowhere.example", "app", { env: envCreds, home, pushTarget: true })
          .credentials!.username,
        "ci",
      );
      assert.equal(
        findCredentials("nowhere.example", "app", { env: envCreds, home }).credentials,
        undefined,
        "not sent to registries we only pull from",
      );
      const scoped = { ...envCreds, DOCKWRIGHT_REGISTRY_HOST: "nowhere.example" };
      assert.equal(
        findCredentials("nowhere.example", "app", { env: scoped, home }).credentials!.username,
        "ci",
      );
      assert.equal(findCredentials("x", "y", { creds: "u:p:q" }).credentials!.password(), "p:q");
      assert.throws(() => findCredentials("x", "y", { creds: "nopassword" }), /USER:PASSWORD/);
      assert.equal(
        findCredentials("docker.io", "library/debian", { env, home, creds: null }).credentials,
        undefined,
      );
      // Printing credentials shows where they came from, never the password.
      const secret = new Credentials("user", "hunter2-secret", "test");
      for (
        const text of [
          String(secret),
          JSON.stringify(secret),
          runtimeInspect(secret),
          inspect(secret),
        ]
      ) {
        assert.ok(!text.includes("hunter2-secret"), `no password in ${text}`);
      }
    } finally {
      rmrf(dir);
    }
  });

  it("parses WWW-Authenticate challenges", () => {
    assert.deepEqual(
      parseChallenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull,push"',
      ),
      {
        scheme: "bearer",
        params: {
          realm: "https://auth.docker.io/token",
          service: "registry.docker.io",
          scope: "repository:library/debian:pull,push",
        },
      },
    );
    assert.deepEqual(parseChallenge('Basic realm="x\\"y"'), {
      scheme: "basic",
      params: { realm: 'x"y' },
    });
    assert.equal(parseChallenge(null), undefined);
  });

  it("chooses the platform of an index, with default variants", () => {
    const m = (architecture: string, variant?: string, os = "linux") => ({
      digest: `${architecture}${variant ?? ""}`,
      size: 1,
      platform: { os, architecture, ...(variant ? { variant } : {}) },
    });
    const index = [
      m("amd64"),
      m("arm", "v6"),
      m("arm", "v7"),
      m("arm64", "v8"),
      m("unknown", undefined, "unknown"),
    ];
    assert.equal(choosePlatform(index, { os: "linux", architecture: "amd64" }).digest, "amd64");
    assert.equal(
      choosePlatform(index, { os: "linux", architecture: "arm" }).digest,
      "armv7",
      "arm defaults to v7",
    );
    assert.equal(
      choosePlatform(index, { os: "linux", architecture: "arm", variant: "v6" }).digest,
      "armv6",
    );
    assert.equal(choosePlatform(index, { os: "linux", architecture: "arm64" }).digest, "arm64v8");
    assert.throws(
      () => choosePlatform(index, { os: "linux", architecture: "s390x" }),
      /no image for linux\/s390x \(it has: linux\/amd64, linux\/arm\/v6, linux\/arm\/v7, linux\/arm64\/v8\)/,
    );
    assert.throws(
      () => choosePlatform(index, { os: "windows", architecture: "amd64" }),
      /windows\/amd64/,
    );
  });

  it("reads Nix hashes in hex, base-32, base64 and SRI form", () => {
    const empty = new Uint8Array(createHash("sha256").update("").digest());
    assert.equal(toNix32(empty), "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73");
    assert.equal(sri(empty), "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    for (
      const form of [
        sha256(""),
        `sha256:${sha256("")}`,
        toNix32(empty),
        sri(empty),
        "sha256:" + toNix32(empty),
      ]
    ) {
      assert.deepEqual(parseSha256(form), empty, form);
    }
    assert.equal(parseSha256("nope"), undefined);
  });

  it("pullImage checks its attributes when called and contacts nothing until built", () => {
    const digest = `sha256:${"b".repeat(64)}`;
    const image = pullImage({
      imageName: "127.0.0.1:9/unreachable",
      imageDigest: digest,
      finalImageName: "base",
      arch: "arm64",
    });
    assert.equal(image.imageName, "base");
    assert.equal(image.tag, "latest");
    assert.equal(image.name, "docker-image-base-latest.tar");
    assert.equal(image.baseName, "docker-image-base-latest");
    assert.equal(
      pullImage({ imageName: "library/debian", imageDigest: digest }).name,
      "docker-image-library-debian-latest.tar",
    );
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ imageName: "debian" }, /"imageDigest" is required/],
      [
        { imageName: "debian", imageDigest: "sha256:abc" },
        /"imageDigest" must be a manifest digest/,
      ],
      [{ imageName: "debian:12", imageDigest: digest }, /without a tag or digest/],
      [{
        imageName: "debian",
        imageDigest: digest,
        sha256: sha256(""),
        hash: sri(new Uint8Array(32)),
      }, /mutually exclusive/],
      [{ imageName: "debian", imageDigest: digest, hash: sha256("") }, /SRI/],
      [{ imageName: "debian", imageDigest: digest, arch: "arm32v7" }, /Go architecture name/],
      [{ imageName: "debian", imageDigest: digest, finalImageTag: "" }, /finalImageTag/],
      [{ imageName: "debian", imageDigest: digest, tlsverify: false }, /did you mean "tlsVerify"/],
    ];
    for (const [args, message] of bad) {
      assert.throws(
        () => pullImage(args as never),
        (e: Error) => e instanceof AttributeError && message.test(e.message),
        JSON.stringify(args),
      );
    }
  });
});

function listenOn(server: http.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port))
  );
}

/** How the runtime's own console would print a value (Deno.inspect, or node:util's inspect under Bun). */
function runtimeInspect(value: unknown): string {
  const deno = (globalThis as { Deno?: { inspect(v: unknown): string } }).Deno;
  return deno ? deno.inspect(value) : inspect(value);
}

describe("registries over plain HTTP (docker-registry on 127.0.0.1)", () => {
  let dir: string;
  let registry: RegistryServer | undefined;
  let proxy: Proxy | undefined;
  const sandbox = lazyPodman();

  before(() => {
    dir = tempDir("dw-registry-");
  });
  after(async () => {
    await sandbox.close();
    await proxy?.stop();
    await registry?.stop();
    rmrf(dir);
  });
  /** The registry, and a fresh log on the proxy in front of it. */
  async function servers(): Promise<{ registry: RegistryServer; proxy: Proxy }> {
    registry ??= await startRegistry(join(dir, "registry"));
    proxy ??= await startProxy(registry.port);
    proxy.log.length = 0;
    proxy.fault = undefined;
    return { registry, proxy };
  }
  const cache = (name: string) => join(dir, `cache-${name}`);

  it("pushes an image that skopeo copies and umoci unpacks; a second push uploads nothing; another repository mounts", async (t) => {
    if (!requireTools(t, ["docker-registry", "skopeo", "umoci"])) return;
    const { registry, proxy } = await servers();
    const cacheDir = cache("push");
    const image = greeter("pushed", { tag: "v1" });
    const first = await push(image, `${proxy.host}/team/pushed`, {
      ...FAST,
      cacheDir,
      progress: false,
    });
    assert.equal(
      first.reference,
      `${proxy.host}/team/pushed:v1`,
      "the image's tag when the reference has none",
    );
    assert.equal(first.mediaType, "application/vnd.oci.image.manifest.v1+json");
    assert.equal(first.layers[0].mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
    assert.deepEqual(first.blobs, { uploaded: 2, mounted: 0, existing: 0 });
    const order = proxy.log.filter((r) => r.method === "PUT").map((r) =>
      r.path.includes("/manifests/")
        ? "manifest"
        : decodeURIComponent(r.path).includes(first.configDigest)
        ? "config"
        : "layer"
    );
    assert.deepEqual(order, ["layer", "config", "manifest"], "layers, then config, then manifest");
    assert.equal(await skopeoDigest(`${registry.host}/team/pushed:v1`), first.manifestDigest);
    const layout = join(dir, "pushed.oci");
    await skopeoCopy(`docker://${registry.host}/team/pushed:v1`, `oci:${layout}:v1`, [
      "--src-tls-verify=false",
    ]);
    await umociUnpack(layout, "v1", join(dir, "pushed-bundle"));
    assert.ok(existsSync(join(dir, "pushed-bundle", "rootfs", "bin", "hello")));

    proxy.log.length = 0;
    const again = await push(image, `${proxy.host}/team/pushed:v1`, {
      ...FAST,
      cacheDir,
      progress: false,
    });
    assert.equal(again.manifestDigest, first.manifestDigest);
    assert.deepEqual(again.blobs, { uploaded: 0, mounted: 0, existing: 2 });
    assert.deepEqual(
      proxy.log.filter((r) => r.method !== "HEAD" && r.path.includes("/blobs/")),
      [],
      "no blob upload requests",
    );

    proxy.log.length = 0;
    const other = await push(image, `${proxy.host}/other/copy:v1`, {
      ...FAST,
      cacheDir,
      progress: false,
    });
    assert.deepEqual(other.blobs, { uploaded: 0, mounted: 2, existing: 0 });
    const posts = proxy.log.filter((r) => r.method === "POST");
    assert.equal(posts.length, 2);
    for (const p of posts) {
      assert.match(
        p.path,
        /\/v2\/other\/copy\/blobs\/uploads\/\?mount=sha256%3A[0-9a-f]{64}&from=team%2Fpushed$/,
      );
    }
    assert.equal(
      proxy.log.filter((r) =>
        r.method === "PATCH" || (r.method === "PUT" && r.path.includes("/blobs/"))
      ).length,
      0,
    );
    assert.equal(await skopeoDigest(`${registry.host}/other/copy:v1`), first.manifestDigest);
  });

  /** A busybox image made by dockwright, pushed by skopeo (gzip, Docker schema 2); returns its digest. */
  async function skopeoPushedBase(registry: RegistryServer): Promise<string> {
    const busybox = staticBusybox();
    assert.ok(busybox, "a static busybox (apt-get install busybox-static)");
    const root = join(dir, "base-root");
    mkdirSync(join(root, "bin"), { recursive: true });
    writeFileSync(join(root, "bin", "busybox"), readFileSync(busybox), { mode: 0o755 });
    const archive = join(dir, "base.tar");
    await build(
      buildImage({
        name: "base",
        tag: "1",
        copyToRoot: [root, writeTextDir("etc/base-motd", "from the base\n")],
        config: { Env: ["FROM_BASE=yes"] },
      }),
      { out: archive, compressor: "none", cacheDir: cache("base-build"), progress: false },
    );
    await skopeoCopy(`docker-archive:${archive}`, `docker://${registry.host}/library/base:1`, [
      "--dest-tls-verify=false",
    ]);
    return await skopeoDigest(`${registry.host}/library/base:1`);
  }

  it("pulls an image skopeo pushed, by digest, builds on it, and podman runs the result; a second pull asks for nothing", async (t) => {
    if (!requireTools(t, ["docker-registry", "skopeo", "podman", "runc", "busybox"])) return;
    const { registry, proxy } = await servers();
    const digest = await skopeoPushedBase(registry);
    const cacheDir = cache("pull");
    const base = () =>
      pullImage({
        imageName: `${proxy.host}/library/base`,
        imageDigest: digest,
        finalImageName: "pulled/base",
        finalImageTag: "1",
        tlsVerify: false,
      });
    const app = (from: ReturnType<typeof pullImage>) =>
      buildImage({
        name: "app",
        tag: "latest",
        fromImage: from,
        copyToRoot: writeTextDir("etc/app-motd", "from the app\n"),
        config: {
          Entrypoint: ["/bin/busybox"],
          Cmd: ["sh", "-c", "cat /etc/base-motd /etc/app-motd; echo $FROM_BASE"],
        },
      });
    const out = join(dir, "app.tar");
    const result = await build(app(base()), { out, compressor: "none", cacheDir, progress: false });
    assert.equal(result.layers.length, 2);
    assert.equal(blobRequests(proxy, "GET").length, 2, "config and one layer downloaded");
    assertCacheClean(cacheDir);
    const podman = await sandbox.get();
    await podman.load(out);
    assert.equal(await podman.run("localhost/app:latest"), "from the base\nfrom the app\nyes\n");

    // The layered builders take the same fromImage path (loadBaseImage).
    const layered = buildLayeredImage({
      name: "layered-app",
      tag: "latest",
      fromImage: base(),
      contents: writeTextDir("etc/app-motd", "from the layered app\n"),
      config: {
        Entrypoint: ["/bin/busybox"],
        Cmd: ["sh", "-c", "cat /etc/base-motd /etc/app-motd"],
      },
    });
    const layeredOut = join(dir, "layered-app.tar");
    await build(layered, { out: layeredOut, compressor: "none", cacheDir, progress: false });
    await podman.load(layeredOut);
    assert.equal(
      await podman.run("localhost/layered-app:latest"),
      "from the base\nfrom the layered app\n",
    );

    // The pulled image itself, written as a docker-archive, loads too, under its final name.
    proxy.log.length = 0;
    const pulledOut = join(dir, "pulled.tar");
    const pulled = await build(base(), {
      out: pulledOut,
      compressor: "none",
      cacheDir,
      progress: false,
    });
    assert.equal(pulled.path, pulledOut);
    assert.deepEqual(
      proxy.log,
      [],
      "a second pull (new value, same cache) makes no request at all",
    );
    assert.deepEqual(await podman.load(pulledOut), ["localhost/pulled/base:1"]);
    assert.equal(
      await podman.run("localhost/pulled/base:1", ["cat", "/etc/base-motd"], {
        entrypoint: "/bin/busybox",
      }),
      "from the base\n",
    );

    // sha256/hash check the docker-archive with compressor none: exactly the file just written.
    const fileHash = new Uint8Array(createHash("sha256").update(readFileSync(pulledOut)).digest());
    const withHash = (h: Record<string, string>) =>
      pullImage({
        imageName: `${proxy.host}/library/base`,
        imageDigest: digest,
        finalImageName: "pulled/base",
        finalImageTag: "1",
        tlsVerify: false,
        ...h,
      });
    await build(withHash({ hash: sri(fileHash) }), {
      out: join(dir, "h1.tar"),
      compressor: "none",
      cacheDir,
      progress: false,
    });
    await build(withHash({ sha256: toNix32(fileHash) }), {
      out: join(dir, "h2.tar"),
      compressor: "none",
      cacheDir: cache("pull-fresh"),
      progress: false,
    });
    await assert.rejects(
      build(withHash({ sha256: sha256("something else") }), {
        out: join(dir, "h3.tar"),
        cacheDir,
        progress: false,
      }),
      (e: Error) =>
        e.message.includes("hash mismatch") && e.message.includes(`got:    ${sri(fileHash)}`),
    );
    assert.ok(!existsSync(join(dir, "h3.tar")), "nothing written on a hash mismatch");
  });

  it("chooses the right image of a multi-platform index (OCI index and Docker manifest list)", async (t) => {
    if (!requireTools(t, ["docker-registry", "skopeo"])) return;
    const { registry, proxy } = await servers();
    const images = [
      greeter("multi", { architecture: "amd64" }),
      buildImage({
        name: "multi",
        tag: "latest",
        architecture: "arm64",
        copyToRoot: writeTextFile({
          name: "hello",
          destination: "/bin/hello",
          text: greeterExecutable(GREETING, "arm64"),
          executable: true,
        }),
        config: { Cmd: ["/bin/hello"] },
      }),
    ];
    const cacheDir = cache("multi");
    for (const manifestFormat of ["oci", "docker"] as const) {
      const tag = `multi-${manifestFormat}`;
      const index = await pushIndex(images, `${proxy.host}/multi:${tag}`, {
        ...FAST,
        cacheDir,
        progress: false,
        manifestFormat,
      });
      assert.equal(index.manifests.length, 2);
      const raw = JSON.parse(
        (await runOk("skopeo", [
          "--insecure-policy",
          "inspect",
          "--raw",
          "--tls-verify=false",
          `docker://${registry.host}/multi:${tag}`,
        ])).stdout,
      );
      assert.equal(
        raw.mediaType,
        manifestFormat === "oci"
          ? "application/vnd.oci.image.index.v1+json"
          : "application/vnd.docker.distribution.manifest.list.v2+json",
      );
      assert.deepEqual(raw.manifests.map((m: { platform: unknown }) => m.platform), [{
        os: "linux",
        architecture: "amd64",
      }, { os: "linux", architecture: "arm64" }]);
      const arm = JSON.parse(
        (await runOk("skopeo", [
          "--insecure-policy",
          "--override-arch",
          "arm64",
          "inspect",
          "--tls-verify=false",
          `docker://${registry.host}/multi:${tag}`,
        ])).stdout,
      );
      assert.equal(arm.Architecture, "arm64");
      assert.deepEqual(
        arm.Layers,
        index.manifests[1].layers.map((l) => l.digest),
        "skopeo picks the same arm64 image",
      );
      for (const [i, arch] of [[0, "amd64"], [1, "arm64"]] as const) {
        const pulled = pullImage({
          imageName: `${proxy.host}/multi`,
          imageDigest: index.manifestDigest,
          arch,
          tlsVerify: false,
        });
        const out = join(dir, `multi-${manifestFormat}-${arch}.oci`);
        const result = await build(pulled, {
          out,
          format: "oci",
          cacheDir: cache(`multi-pull-${manifestFormat}`),
          progress: false,
        });
        assert.equal(
          result.configDigest,
          index.manifests[i].configDigest,
          `${arch} from the ${manifestFormat} index`,
        );
        const config = JSON.parse(
          readFileSync(join(out, "blobs", "sha256", result.configDigest.slice(7)), "utf8"),
        );
        assert.equal(config.architecture, arch);
      }
      await assert.rejects(
        build(
          pullImage({
            imageName: `${proxy.host}/multi`,
            imageDigest: index.manifestDigest,
            arch: "s390x",
            tlsVerify: false,
          }),
          { out: join(dir, "none.tar"), cacheDir, progress: false },
        ),
        /no image for linux\/s390x \(it has: linux\/amd64, linux\/arm64\)/,
      );
    }
    // A single-platform image asked for another architecture explicitly is refused.
    const amd = await push(images[0], `${proxy.host}/multi:single`, {
      ...FAST,
      cacheDir,
      progress: false,
    });
    await assert.rejects(
      build(
        pullImage({
          imageName: `${proxy.host}/multi`,
          imageDigest: amd.manifestDigest,
          arch: "arm64",
          tlsVerify: false,
        }),
        { out: join(dir, "x.tar"), cacheDir, progress: false },
      ),
      /single-platform image for linux\/amd64, not linux\/arm64/,
    );
  });

  it("survives flaky registries and refuses broken ones, keeping nothing partial or wrong", async (t) => {
    if (!requireTools(t, ["docker-registry"])) return;
    const { proxy } = await servers();
    const seeded = await push(greeter("faulty", { tag: "f1" }), `${proxy.host}/faulty`, {
      ...FAST,
      cacheDir: cache("faulty-push"),
      progress: false,
      compressor: "none",
    });
    const layer = seeded.layers[0].digest as Digest;
    assert.ok(seeded.layers[0].size > 1000);
    const ref = `${proxy.host}/faulty@${seeded.manifestDigest}`;
    /** `fault` on the first request that `match`es, then pass everything. */
    const once = (match: (r: ProxiedRequest) => boolean, fault: Fault) => {
      let n = 0;
      proxy.fault = (r) => (match(r) && n++ === 0 ? fault : undefined);
    };
    const isLayerGet = (r: ProxiedRequest) =>
      r.method === "GET" && r.path.includes(`/blobs/${layer}`);
    const fresh = (name: string) => {
      const c = cache(`fault-${name}`);
      BlobStore.open(c);
      return c;
    };

    // A 500, a 429, and a dropped connection on the first try: retried, and the pull succeeds.
    const transient: Array<[string, Fault]> = [
      ["500", { kind: "status", status: 500 }],
      ["429", { kind: "status", status: 429, headers: { "retry-after": "0" } }],
      ["drop", { kind: "drop" }],
    ];
    for (const [name, fault] of transient) {
      proxy.log.length = 0;
      once(isLayerGet, fault);
      const cacheDir = fresh(name);
      const pulled = await pull(BlobStore.open(cacheDir), ref, FAST);
      assert.equal(pulled.image.layers[0].origin?.digest, layer, name);
      assert.equal(blobRequests(proxy, "GET", layer).length, 2, `${name}: one retry`);
      assertCacheClean(cacheDir);
    }
    // A body cut short once: retried from the start.
    proxy.log.length = 0;
    once(isLayerGet, { kind: "truncate", bytes: 500 });
    const truncatedOnce = fresh("truncated-once");
    await pull(BlobStore.open(truncatedOnce), ref, FAST);
    assert.equal(blobRequests(proxy, "GET", layer).length, 2);
    assertCacheClean(truncatedOnce);
    // Cut short every time: a clear error after the attempts, and nothing kept.
    proxy.fault = (r) => isLayerGet(r) ? { kind: "truncate", bytes: 500 } : undefined;
    const truncated = fresh("truncated");
    await assert.rejects(
      pull(BlobStore.open(truncated), ref, FAST),
      /stopped after 500 of \d+ bytes, 3 times/,
    );
    assertCacheClean(truncated);
    assert.ok(!BlobStore.open(truncated).has(layer));
    // Wrong content: an error naming the digest, not retried, nothing kept.
    proxy.log.length = 0;
    proxy.fault = (r) => isLayerGet(r) ? { kind: "corrupt" } : undefined;
    const corrupt = fresh("corrupt");
    await assert.rejects(
      pull(BlobStore.open(corrupt), ref, FAST),
      (e: Error) => e.name === "DigestMismatchError" && e.message.includes(layer),
    );
    assert.equal(blobRequests(proxy, "GET", layer).length, 1, "a wrong blob is not retried");
    assertCacheClean(corrupt);
    assert.ok(!BlobStore.open(corrupt).has(layer));
    // A manifest that does not match the digest asked for.
    proxy.fault = (r) =>
      r.method === "GET" && r.path.includes("/manifests/") ? { kind: "corrupt" } : undefined;
    await assert.rejects(
      pull(BlobStore.open(fresh("bad-manifest")), ref, FAST),
      /manifest .* does not match its digest/,
    );
    assertCacheClean(cache("fault-bad-manifest"));
    proxy.fault = undefined;
    // An unknown digest.
    await assert.rejects(
      pull(BlobStore.open(fresh("unknown")), `${proxy.host}/faulty@sha256:${"0".repeat(64)}`, FAST),
      (e: Error) =>
        e instanceof RegistryNotFoundError &&
        /has no manifest sha256:0{64}: check the image name and digest/.test(e.message),
    );
    // A 500 always: a clear error after the attempts.
    proxy.fault = (r) =>
      r.method === "GET" && r.path.includes("/manifests/")
        ? { kind: "status", status: 500 }
        : undefined;
    await assert.rejects(
      pull(BlobStore.open(fresh("500s")), ref, FAST),
      /HTTP 500 UNKNOWN: injected fault/,
    );
    proxy.fault = undefined;

    // Push: the registry stores the layer but the answer is a 500: the retry finds it (HEAD) and never sends it again.
    proxy.log.length = 0;
    const isLayerPut = (r: ProxiedRequest) =>
      r.method === "PUT" && decodeURIComponent(r.path).includes(`digest=${layer}`);
    once(isLayerPut, { kind: "replaceStatus", status: 500 });
    // A fresh cache knows no other repository to mount from, so the layer is uploaded.
    const repushed = await push(greeter("faulty", { tag: "f1" }), `${proxy.host}/faulty-again`, {
      ...FAST,
      cacheDir: cache("faulty-repush"),
      progress: false,
      compressor: "none",
      creds: null,
    });
    assert.equal(repushed.manifestDigest, seeded.manifestDigest);
    assert.equal(
      proxy.log.filter(isLayerPut).length,
      1,
      "the finished layer was not uploaded twice",
    );
    // A 503 when an upload starts, and a dropped connection on the manifest: retried.
    proxy.log.length = 0;
    let starts = 0;
    let manifests = 0;
    proxy.fault = (r) => {
      if (r.method === "POST" && starts++ === 0) return { kind: "status", status: 503 };
      if (r.method === "PUT" && r.path.includes("/manifests/") && manifests++ === 0) {
        return { kind: "drop" };
      }
      return undefined;
    };
    const flaky = await push(greeter("flaky", { tag: "x" }), `${proxy.host}/flaky`, {
      ...FAST,
      cacheDir: cache("flaky"),
      progress: false,
    });
    assert.equal(flaky.blobs.uploaded, 2);
    assert.equal(
      (await pull(BlobStore.open(fresh("flaky-check")), `${proxy.host}/flaky:x`, FAST)).reference
        .digest,
      flaky.manifestDigest,
    );
  });

  it("pushes from the command line with --push, printing the reference and digest in --json", async (t) => {
    if (!requireTools(t, ["docker-registry", "skopeo"])) return;
    const { registry } = await servers();
    const out = join(dir, "cli-hello.tar");
    const r = await runTs(RUNTIME, CLI, [
      "build",
      HELLO,
      "--push",
      `${registry.host}/cli/hello:cli`,
      "--tls-verify=false",
      "--out",
      out,
      "--json",
      "--cache-dir",
      cache("cli"),
    ], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout);
    assert.equal(json.reference, `${registry.host}/cli/hello:cli`);
    assert.equal(json.manifestDigest, await skopeoDigest(`${registry.host}/cli/hello:cli`));
    assert.equal(
      json.layers[0].mediaType,
      "application/vnd.oci.image.layer.v1.tar",
      "the example's compressor is none",
    );
    assert.equal(json.output.path, out, "--out writes the same image too");
    assert.equal(json.output.configDigest, json.configDigest);
    assert.ok(existsSync(out));
    const bad = await runTs(RUNTIME, CLI, ["build", HELLO, "--creds", "a:b"], { cwd: dir });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--creds only applies to --push/);
    assert.ok(!bad.stderr.includes("a:b"));
  });

  it("follows blob redirects to another host without sending it the registry's credentials", async () => {
    // A fake registry (Basic auth) that redirects blob downloads to a "storage" server on another port.
    const seen: Array<{ server: string; path: string; authorization?: string }> = [];
    const storage = http.createServer((req, res) => {
      seen.push({
        server: "storage",
        path: req.url ?? "",
        authorization: req.headers.authorization,
      });
      res.end("blob bytes");
    });
    const storagePort = await listenOn(storage);
    const fake = http.createServer((req, res) => {
      seen.push({
        server: "registry",
        path: req.url ?? "",
        authorization: req.headers.authorization,
      });
      if (req.headers.authorization !== `Basic ${Buffer.from("u:pw").toString("base64")}`) {
        res.writeHead(401, { "www-authenticate": 'Basic realm="fake"' });
        res.end();
      } else {
        res.writeHead(307, {
          location: `http://127.0.0.1:${storagePort}/bucket/blob?signature=abc`,
        });
        res.end();
      }
    });
    const fakePort = await listenOn(fake);
    const client = new RegistryClient({ registry: `127.0.0.1:${fakePort}`, repository: "app" }, [
      "pull",
    ], { tlsVerify: false, creds: "u:pw" });
    try {
      const response = await client.request("GET", `/v2/app/blobs/sha256:${"1".repeat(64)}`, {
        what: "a blob",
        follow: true,
      });
      assert.equal(await response.text(), "blob bytes");
    } finally {
      client.close();
      await new Promise((r) => storage.close(r));
      await new Promise((r) => fake.close(r));
    }
    const toStorage = seen.filter((s) => s.server === "storage");
    assert.equal(toStorage.length, 1);
    assert.equal(toStorage[0].path, "/bucket/blob?signature=abc");
    assert.equal(
      toStorage[0].authorization,
      undefined,
      "no Authorization header for the storage host",
    );
    assert.ok(
      seen.some((s) => s.server === "registry" && s.authorization?.startsWith("Basic ")),
      "the registry got the credentials",
    );
  });

  it("uploads big blobs in PATCH chunks, and pushes Docker schema 2 manifests on request", async (t) => {
    if (!requireTools(t, ["docker-registry", "skopeo", "umoci"])) return;
    const { registry, proxy } = await servers();
    const noise = randomBytes(200_000).toString("base64");
    const image = buildImage({
      name: "chunky",
      tag: "c1",
      copyToRoot: writeTextDir("srv/noise.txt", noise),
    });
    const result = await push(image, `${proxy.host}/chunky`, {
      ...FAST,
      cacheDir: cache("chunks"),
      progress: false,
      chunkSize: 64 * 1024,
    });
    const layer = result.layers[0];
    assert.ok(layer.size > 3 * 64 * 1024, `layer of ${layer.size} bytes spans several chunks`);
    const patches = proxy.log.filter((r) => r.method === "PATCH");
    assert.equal(patches.length, Math.ceil(layer.size / (64 * 1024)));
    assert.ok(patches.slice(0, -1).every((p) => p.bodyBytes === 64 * 1024));
    const layout = join(dir, "chunky.oci");
    await skopeoCopy(`docker://${registry.host}/chunky:c1`, `oci:${layout}:c1`, [
      "--src-tls-verify=false",
    ]);
    await umociUnpack(layout, "c1", join(dir, "chunky-bundle"));
    assert.equal(
      readFileSync(join(dir, "chunky-bundle", "rootfs", "srv", "noise.txt"), "utf8"),
      noise,
    );

    const docker = await push(greeter("dockerfmt"), `${proxy.host}/dockerfmt:d1`, {
      ...FAST,
      cacheDir: cache("chunks"),
      progress: false,
      manifestFormat: "docker",
    });
    assert.equal(docker.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
    const raw = JSON.parse(
      (await runOk("skopeo", [
        "--insecure-policy",
        "inspect",
        "--raw",
        "--tls-verify=false",
        `docker://${registry.host}/dockerfmt:d1`,
      ])).stdout,
    );
    assert.equal(raw.config.mediaType, "application/vnd.docker.container.image.v1+json");
    assert.equal(raw.layers[0].mediaType, "application/vnd.docker.image.rootfs.diff.tar.gzip");
    assert.equal(await skopeoDigest(`${registry.host}/dockerfmt:d1`), docker.manifestDigest);
    await assert.rejects(
      push(greeter("dockerfmt"), `${proxy.host}/dockerfmt:z`, {
        ...FAST,
        cacheDir: cache("chunks"),
        progress: false,
        manifestFormat: "docker",
        compressor: "zstd",
      }),
      /no zstd layer type/,
    );
  });
});

describe("registries with credentials: TLS + htpasswd, and bearer tokens", () => {
  const PASSWORD = "correct-horse-battery";
  const WRONG = "wrong-staple-9371";
  let dir: string;
  const servers: Array<{ stop(): Promise<void> }> = [];
  before(() => {
    dir = tempDir("dw-registry-auth-");
  });
  after(async () => {
    for (const s of servers.reverse()) await s.stop();
    rmrf(dir);
  });
  const cache = (name: string) => join(dir, `cache-${name}`);
  const noSecrets = (e: Error) =>
    !e.message.includes(PASSWORD) && !e.message.includes(WRONG) && !(e.stack ?? "").includes(WRONG);

  it("pushes and pulls over TLS with a private CA and basic auth; wrong or missing credentials are clear errors without the password", async (t) => {
    if (!requireTools(t, ["docker-registry", "openssl", "htpasswd"])) return;
    const certs = await makeCertificates(join(dir, "certs"));
    const registry = await startRegistry(join(dir, "basic"), {
      tls: certs,
      htpasswd: await htpasswdFile(dir, "alice", PASSWORD),
    });
    servers.push(registry);
    const ref = `${registry.host}/secure/app:1`;
    const pushed = await push(greeter("secure"), ref, {
      caFile: certs.caFile,
      creds: `alice:${PASSWORD}`,
      cacheDir: cache("tls"),
      progress: false,
    });
    assert.deepEqual(pushed.blobs, { uploaded: 2, mounted: 0, existing: 0 });

    // pullImage takes the CA from DOCKWRIGHT_CA_FILE and the password from an auth file.
    const authFile = join(dir, "auth.json");
    writeFileSync(
      authFile,
      JSON.stringify({
        auths: { [registry.host]: { auth: Buffer.from(`alice:${PASSWORD}`).toString("base64") } },
      }),
    );
    const pulledCache = cache("tls-pull");
    await withEnv({ DOCKWRIGHT_CA_FILE: certs.caFile, REGISTRY_AUTH_FILE: authFile }, async () => {
      const result = await build(
        pullImage({ imageName: `${registry.host}/secure/app`, imageDigest: pushed.manifestDigest }),
        {
          out: join(dir, "secure.oci"),
          format: "oci",
          cacheDir: pulledCache,
          progress: false,
        },
      );
      assert.equal(result.configDigest, pushed.configDigest);
    });
    assertCacheClean(pulledCache);

    // Thunks, so that no rejection is left unhandled while an earlier one is checked.
    const failures: Array<[() => Promise<unknown>, RegExp]> = [
      [
        () =>
          push(greeter("secure"), ref, {
            caFile: certs.caFile,
            creds: `alice:${WRONG}`,
            cacheDir: cache("tls-wrong"),
            progress: false,
          }),
        /refused the credentials from --creds .*check the user name and password/,
      ],
      [
        () =>
          push(greeter("secure"), ref, {
            caFile: certs.caFile,
            creds: null,
            cacheDir: cache("tls-anon"),
            progress: false,
          }),
        /needs a login .*podman login/,
      ],
      [
        () =>
          pull(
            BlobStore.open(cache("tls-pull-wrong")),
            `${registry.host}/secure/app@${pushed.manifestDigest}`,
            { caFile: certs.caFile, creds: { username: "alice", password: WRONG } },
          ),
        /refused the credentials/,
      ],
      [
        () =>
          push(greeter("secure"), ref, {
            creds: `alice:${PASSWORD}`,
            cacheDir: cache("tls-noca"),
            progress: false,
            attempts: 2,
          }),
        /certificate.*caFile, --ca-file or DOCKWRIGHT_CA_FILE/,
      ],
    ];
    for (const [attempt, message] of failures) {
      await assert.rejects(attempt(), (e: Error) => message.test(e.message) && noSecrets(e));
    }
    assertCacheClean(cache("tls-pull-wrong"));
    // --tls-verify=false: Bun skips verification; Deno cannot per request, and says what to do.
    const insecure = () =>
      push(greeter("secure"), ref, {
        tlsVerify: false,
        creds: `alice:${PASSWORD}`,
        cacheDir: cache("tls"),
        progress: false,
      });
    if (RUNTIME === "bun") assert.equal((await insecure()).manifestDigest, pushed.manifestDigest);
    else {await assert.rejects(
        insecure(),
        /certificate was refused .*--unsafely-ignore-certificate-errors/,
      );}

    // The command line: a wrong password fails with exit 1 and is never printed.
    const r = await runTs(RUNTIME, CLI, [
      "build",
      HELLO,
      "--push",
      `${registry.host}/cli/hello`,
      "--ca-file",
      certs.caFile,
      "--creds",
      `alice:${WRONG}`,
      "--cache-dir",
      cache("tls-cli"),
    ], { cwd: dir });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error: .*refused the credentials from --creds/m);
    assert.ok(!r.stderr.includes(WRONG) && !r.stdout.includes(WRONG));
  });

  it("follows the bearer token flow with a token server: push, pull, mount; wrong credentials are refused clearly", async (t) => {
    if (!requireTools(t, ["docker-registry", "openssl"])) return;
    const tokens: TokenServer = await startTokenServer(join(dir, "tokens"), { bob: PASSWORD });
    servers.push(tokens);
    const registry = await startRegistry(join(dir, "token-registry"), {
      token: {
        realm: tokens.realm,
        service: tokens.service,
        issuer: tokens.issuer,
        rootCertBundle: tokens.certFile,
      },
    });
    servers.push(registry);
    const cacheDir = cache("token");
    const opts = { tlsVerify: false, creds: `bob:${PASSWORD}`, cacheDir, progress: false } as const;
    const pushed = await push(greeter("tok", { tag: "t1" }), `${registry.host}/bob/app`, opts);
    assert.ok(
      tokens.requests.some((r) =>
        r.ok && r.user === "bob" && r.scopes.includes("repository:bob/app:pull,push")
      ),
      `token asked with scope repository:bob/app:pull,push: ${JSON.stringify(tokens.requests)}`,
    );
    // A mount from bob/app needs pull on it too: the token is asked again with both scopes.
    const mounted = await push(greeter("tok", { tag: "t1" }), `${registry.host}/bob/other`, opts);
    assert.deepEqual(mounted.blobs, { uploaded: 0, mounted: 2, existing: 0 });
    assert.ok(
      tokens.requests.some((r) =>
        r.scopes.includes("repository:bob/app:pull") &&
        r.scopes.includes("repository:bob/other:pull,push")
      ),
    );
    // Pull with credentials from the environment, scoped to this registry.
    tokens.requests.length = 0;
    const pulled = await withEnv(
      {
        DOCKWRIGHT_REGISTRY_USER: "bob",
        DOCKWRIGHT_REGISTRY_PASSWORD: PASSWORD,
        DOCKWRIGHT_REGISTRY_HOST: registry.host,
      },
      () =>
        pull(
          BlobStore.open(cache("token-pull")),
          `${registry.host}/bob/app@${pushed.manifestDigest}`,
          { tlsVerify: false },
        ),
    );
    assert.equal(pulled.image.config.digest, pushed.configDigest);
    assert.deepEqual(tokens.requests.map((r) => [r.user, r.scopes]), [["bob", [
      "repository:bob/app:pull",
    ]]], "one token, pull only");
    await assert.rejects(
      push(greeter("tok"), `${registry.host}/bob/app:t2`, { ...opts, creds: `bob:${WRONG}` }),
      (e: Error) =>
        e instanceof RegistryAuthError && /refused the credentials from --creds/.test(e.message) &&
        noSecrets(e),
    );
    await assert.rejects(
      pull(
        BlobStore.open(cache("token-anon")),
        `${registry.host}/bob/app@${pushed.manifestDigest}`,
        { tlsVerify: false },
      ),
      (e: Error) => e instanceof RegistryAuthError && /needs a login/.test(e.message),
    );
    assertCacheClean(cache("token-anon"));
  });
});
