// The ssh target's steps on the deployer (render/sshStep.ts) against the real OpenSSH client and
// two real sshd on loopback, each with a host key of its own: the tool reaches the first host whose
// container runs, forwards the variables and stdin without putting them on any command line, keeps
// the arguments exactly, passes the exit status on, refuses a host whose key is not the pinned one,
// and leaves no key file behind. `docker` on the hosts is a recorder (this machine has no engine).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { knownHostsLine, renderSshToolPrelude, SSH_KEY_ENV, SSH_KNOWN_HOSTS_ENV, type SshCandidate } from "../../components/render/sshStep";
import { freePortPair, run } from "../lab/etcdHarness";

const SSHD = "/usr/sbin/sshd";
const haveSsh = existsSync(SSHD) && spawnSync("ssh", ["-V"]).status === 0 && spawnSync("ssh-keygen", ["--help"]).error === undefined;
const HOSTS = ["127.0.0.41", "127.0.0.42"];
const PASSWORD = `root:p$\`'x "y"\\z ${Date.now()}`;

describe.skipIf(!haveSsh)("ssh target steps over real OpenSSH", () => {
    const work = mkdtempSync(join(tmpdir(), "gwha-ssh-step-"));
    const user = userInfo().username;
    const daemons: ChildProcess[] = [];
    let port = 0;
    const hostKey = (i: number) => readFileSync(join(work, `host${i}.pub`), "utf8").split(" ").slice(0, 2).join(" ");
    const candidates = (): SshCandidate[] => HOSTS.map((address, i) => ({ node: `etcd-${i + 1}`, address, port, user, container: `etcd-${i + 1}-etcd` }));

    beforeAll(async () => {
        [port] = await freePortPair(HOSTS);
        const keygen = (file: string) => expect(run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(work, file)]).status).toBe(0);
        keygen("client");
        writeFileSync(join(work, "authorized_keys"), readFileSync(join(work, "client.pub")));
        // The hosts' docker: `container inspect` answers from a marker file; `exec` records what it got.
        mkdirSync(join(work, "bin"));
        writeFileSync(
            join(work, "bin", "docker"),
            `#!/bin/sh
log=${work}/calls
if [ "$1 $2" = "container inspect" ]; then
    for c; do :; done
    [ -e "${work}/running-$c" ] || { echo "Error: No such container: $c" >&2; exit 1; }
    echo true; exit 0
fi
[ "$1" = exec ] || exit 2
printf 'argv:%s\\n' "$*" >>"$log"
printf 'parent:%s\\n' "$(tr '\\0' ' ' </proc/$PPID/cmdline)" >>"$log"
shift
while [ "$1" != "\${1#-}" ]; do shift; [ "$1" != "\${1#ETCDCTL_}" ] && shift || :; done
printf 'container:%s\\n' "$1" >>"$log"
shift
printf 'user:%s\\n' "\${ETCDCTL_USER-unset}" >>"$log"
printf 'endpoints:%s\\n' "\${ETCDCTL_ENDPOINTS-unset}" >>"$log"
for a; do printf 'arg:[%s]\\n' "$a" >>"$log"; done
printf 'stdin:%s\\n' "$(cat)" >>"$log"
case " $* " in *" fail "*) exit 7 ;; esac
echo "ran in $HOSTNAME_HINT"
`,
            { mode: 0o755 },
        );
        writeFileSync(join(work, "bin", "sudo"), `#!/bin/sh\n[ "$1" != -n ] || shift\nexec "$@"\n`, { mode: 0o755 });
        if (process.getuid?.() === 0) mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
        for (const [i, address] of HOSTS.entries()) {
            keygen(`host${i}`);
            const cfg = join(work, `sshd${i}.conf`);
            writeFileSync(
                cfg,
                [
                    `ListenAddress ${address}:${port}`,
                    `HostKey ${join(work, `host${i}`)}`,
                    `AuthorizedKeysFile ${join(work, "authorized_keys")}`,
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "PermitRootLogin prohibit-password",
                    `PidFile ${join(work, `sshd${i}.pid`)}`,
                    `SetEnv PATH=${join(work, "bin")}:/usr/bin:/bin HOSTNAME_HINT=host${i}`,
                ].join("\n") + "\n",
            );
            const d = spawn(SSHD, ["-D", "-e", "-f", cfg], { stdio: ["ignore", "ignore", "pipe"] });
            daemons.push(d);
        }
        // Listening once a connection gets a banner.
        for (const address of HOSTS)
            for (let i = 0; i < 50 && run("ssh-keyscan", ["-p", String(port), "-T", "1", address]).stdout === ""; i++) await new Promise((r) => setTimeout(r, 100));
    }, 60_000);

    afterAll(() => {
        for (const d of daemons) d.kill("SIGTERM");
        rmSync(work, { recursive: true, force: true });
    });

    /** A step's script as the target renders it, run as the deployer's `sh -c` with the step's environment. */
    function step(script: string, opts: { knownHosts?: string; input?: string; env?: Record<string, string> } = {}) {
        const scratch = mkdtempSync(join(work, "tmp-"));
        rmSync(join(work, "calls"), { force: true });
        const prelude = renderSshToolPrelude({ candidates: candidates(), toolArgv: ["/usr/local/bin/etcdctl", "--cacert=/pki/ca.crt"], toolEnv: ["ETCDCTL_USER", "ETCDCTL_ENDPOINTS"], connectTimeoutSeconds: 5 });
        // ssh as seen from the deployer: every command line it gets is recorded.
        const shim = join(work, "local-bin");
        mkdirSync(shim, { recursive: true });
        writeFileSync(join(shim, "ssh"), `#!/bin/sh\nprintf '%s\\n' "$*" >>${work}/local-argv\nexec /usr/bin/ssh "$@"\n`, { mode: 0o755 });
        const knownHosts = opts.knownHosts ?? HOSTS.map((a, i) => knownHostsLine(a, port, hostKey(i))).join("\n");
        const r = run("/bin/sh", ["-c", `${prelude}${script}`], {
            env: { PATH: `${shim}:${process.env.PATH}`, TMPDIR: scratch, [SSH_KNOWN_HOSTS_ENV]: knownHosts, [SSH_KEY_ENV]: readFileSync(join(work, "client"), "utf8").trim(), ...opts.env },
            input: opts.input ?? "",
            timeoutMs: 60_000,
        });
        const calls = existsSync(join(work, "calls")) ? readFileSync(join(work, "calls"), "utf8") : "";
        const left = readdirSync(scratch);
        rmSync(scratch, { recursive: true, force: true });
        return { ...r, calls, left };
    }
    const mark = (i: number, running: boolean) => (running ? writeFileSync(join(work, `running-etcd-${i + 1}-etcd`), "") : rmSync(join(work, `running-etcd-${i + 1}-etcd`), { force: true }));

    it("reaches the first host whose container runs, with the variables, stdin and arguments intact", () => {
        mark(0, false);
        mark(1, true);
        const r = step(`ETCDCTL_USER=$PW; export ETCDCTL_USER\nprintf 'piped %s' "$PW" | tool user passwd root "it's" 'two words' --interactive=false`, { env: { PW: PASSWORD } });
        expect(r.status, r.out).toBe(0);
        expect(r.stdout.trim()).toBe("ran in host1");
        expect(r.calls).toContain("container:etcd-2-etcd\n");
        expect(r.calls).toContain(`user:${PASSWORD}\n`);
        // Unset where the script did not set it: not forwarded as an empty value.
        expect(r.calls).toContain("endpoints:unset\n");
        expect(r.calls.match(/^arg:.*$/gm)).toEqual(["arg:[/usr/local/bin/etcdctl]", "arg:[--cacert=/pki/ca.crt]", "arg:[user]", "arg:[passwd]", "arg:[root]", "arg:[it's]", "arg:[two words]", "arg:[--interactive=false]"]);
        expect(r.calls).toContain(`stdin:piped ${PASSWORD}\n`);
        // Never on a command line: not the deployer's ssh, not the host's shell or docker.
        expect(readFileSync(join(work, "local-argv"), "utf8")).not.toContain("p$");
        expect(r.calls.split("\n").filter((l) => l.startsWith("argv:") || l.startsWith("parent:")).join("\n")).not.toContain("p$");
        expect(r.left).toEqual([]);
    });

    it("moves on as containers stop and start, and passes the tool's exit status on", () => {
        mark(0, true);
        mark(1, true);
        expect(step("tool member list").stdout.trim()).toBe("ran in host0");
        mark(0, false);
        expect(step("tool member list").stdout.trim()).toBe("ran in host1");
        const failed = step('tool member fail || echo "exit $?"');
        expect(failed.stdout.trim()).toBe("exit 7");
        mark(1, false);
        const none = step('tool member list || echo "exit $?"');
        expect(none.stdout.trim()).toBe("exit 3");
        expect(none.stderr).toContain(`none of etcd-1-etcd (etcd-1), etcd-2-etcd (etcd-2) is running`);
    });

    it("refuses a host whose key is not the pinned one, as if it were down", () => {
        mark(0, true);
        mark(1, true);
        // Host 1 pinned with host 2's key: never used; host 2 serves.
        const swapped = [knownHostsLine(HOSTS[0], port, hostKey(1)), knownHostsLine(HOSTS[1], port, hostKey(1))].join("\n");
        const r = step("tool member list", { knownHosts: swapped });
        expect(r.status, r.out).toBe(0);
        expect(r.stdout.trim()).toBe("ran in host1");
        const none = step('tool member list || echo "exit $?"', { knownHosts: knownHostsLine(HOSTS[1], port, hostKey(0)) });
        expect(none.stdout.trim()).toBe("exit 3");
        expect(none.calls).toBe("");
    });
});
