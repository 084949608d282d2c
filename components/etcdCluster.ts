import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { ETCD_IMAGE_USER } from "./flavors/images";
import { CertificateAuthority, type IssuedCert } from "./pki";
import {
    ETCD_BOOTSTRAP_ENV,
    ETCD_CONSUMERS,
    ETCD_STEP_DEFAULTS,
    ETCD_CONTAINER_PATHS,
    ETCD_PKI_FILES,
    type EtcdConsumer,
    etcdClientUrls,
    etcdctlConnectionArgs,
    etcdMemberArgs,
    etcdInitialCluster,
    etcdMemberName,
    etcdMemberSans,
    etcdConsumerUser,
    etcdUsers,
    renderEtcdBootstrapScript,
    renderEtcdRevokeScript,
} from "./render/etcd";
import {
    ETCD_FOUNDERS_RECORD_ENV,
    ETCD_MEMBER_ENV,
    etcdMemberStepEnv,
    parseJoinRecord,
    renderEtcdGateScript,
    renderEtcdRolloutScript,
    renderEtcdJoinScript,
    renderEtcdRemoveScript,
} from "./render/etcdMembership";
import { CA_PHASE_ENV, caPhaseRecord, renderCaPhaseScript } from "./render/caRotation";
import { ROTATION_ENV, renderRotationGuardScript, rotationRecord } from "./render/rotationGuard";
import { PRINT_RECORD, type FileSpec, type ServiceSpec, type Target } from "./service";
import type { PlatformSpec } from "./config/types";
import { trustedCaGenerations } from "./config/validate";
import type { Topology } from "./topology/types";
import { usesEtcd } from "./topology/ports";
import { componentType, withPreviousToken } from "./tokens";
import { requireTarget } from "./blockArgs";

export { ETCD_CONSUMERS, type EtcdConsumer } from "./render/etcd";

export interface EtcdClientIdentity {
    user: string;
    /** Pulumi secret; present when etcd auth is on. */
    password?: pulumi.Output<string>;
    /** Client certificate; present when etcd TLS is on. */
    cert?: IssuedCert;
}

export interface EtcdClusterArgs {
    /** Where it runs: one member per etcd node of the target's plan (etcd.*). */
    target: Target;
}

export interface PasswordSlot {
    name: string;
    /** The rotation that generated it (its keepers); 0 or less: the slot's first password. */
    generation: number;
    active: boolean;
}

/**
 * A password in two slots that take turns: rotation N makes the slot of N's parity the active one,
 * regenerated for generation N (its keepers change), and leaves the other holding generation N - 1,
 * the password etcd still has until the rotation is done. Slot 0 at generation 0 is the password
 * stacks had before rotation existed (same name, no keepers). Root: one user whose password the
 * bootstrap changes with the previous one. Consumers: one user per slot (etcdConsumerUser).
 */
export function passwordSlots(names: readonly [string, string], rotation: number): { active: PasswordSlot; previous: PasswordSlot } {
    const slot = (parity: number): PasswordSlot => ({ name: names[parity], generation: rotation % 2 === parity ? rotation : rotation - 1, active: rotation % 2 === parity });
    return { active: slot(rotation % 2), previous: slot(1 - (rotation % 2)) };
}

const pkiPath = (file: string) => `${ETCD_CONTAINER_PATHS.pkiDir}/${file}`;


/**
 * An etcd cluster of `spec.etcd.members` members with client and peer TLS from a
 * generated CA, a root user and one least-privilege user per consumer, auth enabled
 * once the cluster has formed, and a post-deploy check that fails `pulumi up` unless
 * every member is healthy in one cluster.
 */
export class EtcdCluster extends pulumi.ComponentResource {
    readonly target: Target;
    readonly clientUrls: string[];
    readonly caCertPem: pulumi.Output<string>;
    /** Expiry (RFC 3339) of the CA and every certificate it issued, by id; empty without TLS. */
    readonly certificateExpiry: pulumi.Output<Record<string, string>>;
    readonly rootPassword?: pulumi.Output<string>;
    readonly consumers: Record<EtcdConsumer, EtcdClientIdentity>;
    /** Completes when auth is bootstrapped and the cluster is verified healthy. */
    readonly ready: pulumi.Resource;
    private readonly tls: boolean;
    private readonly revoke?: (after: pulumi.Resource[]) => pulumi.Resource;

    constructor(name: string, args: EtcdClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        const target = requireTarget("EtcdCluster", name, args);
        const { spec, topology } = target.plan;
        const members = topology.byRole.etcd;
        if (members.length === 0) throw new Error(`EtcdCluster ${name}: the plan has no etcd nodes (flavor ${spec.flavor}${usesEtcd(spec) ? ", planPlatform's roles without etcd" : " keeps its state in PostgreSQL"})`);
        if (members.length < 3 || members.length % 2 === 0)
            throw new Error(`EtcdCluster ${name}: etcd.members must be odd and at least 3, got ${members.length}`);
        super(componentType("EtcdCluster"), name, {}, withPreviousToken("gateway-ha:etcd:EtcdCluster", opts));
        this.target = target;
        const child = { parent: this };

        const ca = spec.etcd.tls ? this.certificateAuthority(name, spec) : undefined;
        this.caCertPem = ca ? ca.certPem : pulumi.output("");

        const passwords = new Map<string, pulumi.Output<string>>();
        let previousRootPassword: pulumi.Output<string> | undefined;
        if (spec.etcd.auth) {
            // Every password waits for the guard: a counter that went down fails the up before any changes.
            const guard = this.rotationGuard(name, spec);
            // Active passwords are bound to the data: etcd keeps the users' passwords, so a new one would
            // fail the bootstrap against a kept volume (`pulumi destroy --exclude-protected`). A previous
            // one is regenerated by the next rotation.
            const slot = (s: PasswordSlot) =>
                pulumi.secret(
                    new random.RandomPassword(
                        `${name}-${s.name}`,
                        { length: 32, special: false, ...(s.generation > 0 ? { keepers: { generation: String(s.generation) } } : {}) },
                        { ...child, protect: spec.protectData && s.active, dependsOn: [guard] },
                    ).result,
                );
            for (const consumer of ETCD_CONSUMERS) {
                const slots = passwordSlots([`${consumer}-password`, `${consumer}-password-alt`], spec.etcd.consumerPasswordRotation);
                passwords.set(consumer, slot(slots.active));
                // Declared while it is the previous one, unprotected, so the rotation after next can replace it.
                if (spec.etcd.consumerPasswordRotation > 0) slot(slots.previous);
            }
            const root = passwordSlots(["root-password", "root-password-alt"], spec.etcd.rootPasswordRotation);
            passwords.set("root", slot(root.active));
            // Before the first rotation there is no previous password (and nothing changes for stacks deployed before rotation existed).
            if (spec.etcd.rootPasswordRotation > 0) previousRootPassword = slot(root.previous);
        }
        this.rootPassword = passwords.get("root");

        const identity = (user: EtcdConsumer): EtcdClientIdentity => ({
            user: etcdConsumerUser(spec, user),
            password: passwords.get(user),
            // No CN: etcd (CVE-2018-16886 fix) refuses gRPC-gateway requests, which is how APISIX talks
            // to it, from a certificate with a CN once client-cert-auth and auth are on. The password
            // is the identity; the certificate proves membership of the platform.
            // Renewed after the members, one week apart (pki.ts, RENEWAL_STAGGER_HOURS).
            cert: ca?.issue(`client-${user}`, { organizationalUnit: user }, {}, members.length + ETCD_CONSUMERS.indexOf(user)),
        });
        this.consumers = { "control-plane": identity("control-plane"), gateway: identity("gateway") };

        const memberFiles = (i: number): FileSpec[] => {
            const sans = etcdMemberSans(topology, i);
            const cert = ca?.issue(`member-${i + 1}`, { commonName: etcdMemberName(topology, i) }, { dns: sans.dnsNames, ips: sans.ipAddresses }, i);
            return ca && cert
                ? [
                      { path: pkiPath(ETCD_PKI_FILES.ca), content: ca.certPem },
                      { path: pkiPath(ETCD_PKI_FILES.cert), content: cert.certPem },
                      { path: pkiPath(ETCD_PKI_FILES.key), content: cert.keyPem, secret: true },
                  ]
                : [];
        };
        const specs: ServiceSpec[] = members.map((node, i) => ({
            name: `${node.name}-etcd`,
            node,
            role: "etcd",
            service: "etcd",
            image: spec.etcd.image,
            user: ETCD_IMAGE_USER,
            command: ["/usr/local/bin/etcd", ...etcdMemberArgs(spec, topology, i)],
            files: memberFiles(i),
            volumes: [{ name: `${node.name}-etcd-data`, containerPath: ETCD_CONTAINER_PATHS.dataDir }],
            healthCheck: {
                // Plain `endpoint health` against this member only: `--cluster` fails under auth in etcd 3.6.9.
                command: ["/usr/local/bin/etcdctl", ...etcdctlConnectionArgs(spec, topology, i), "endpoint", "health"],
                intervalSeconds: 5,
                timeoutSeconds: 3,
                retries: 5,
                startPeriodSeconds: 20,
            },
            // A graceful stop hands the leadership over first: no election timeout without a leader.
            stopGraceSeconds: 30,
        }));
        // The previous root password too: etcd keeps it until the bootstrap changes it (a rotation).
        const rootEnv: Record<string, pulumi.Output<string>> = spec.etcd.auth
            ? {
                  [etcdUsers(spec).find((u) => u.name === "root")!.passwordEnv]: passwords.get("root")!,
                  ...(previousRootPassword ? { [ETCD_BOOTSTRAP_ENV.previousRootPassword]: previousRootPassword } : {}),
              }
            : {};
        const userEnv = {
            ...Object.fromEntries(
                etcdUsers(spec)
                    .filter((u) => passwords.has(u.role!))
                    .map((u) => [u.passwordEnv, passwords.get(u.role!) as pulumi.Output<string>]),
            ),
            ...rootEnv,
        };
        const bootstrap = {
            name: `${name}-bootstrap`,
            // Member certificates name no etcd user: after auth is on, the script authenticates as root via ETCDCTL_USER.
            toolArgv: ["/usr/local/bin/etcdctl", ...etcdctlConnectionArgs(spec, topology)],
            toolEnv: ["ETCDCTL_USER"],
            script: renderEtcdBootstrapScript(spec, topology),
            env: userEnv,
            secretEnv: Object.keys(userEnv),
        };

        // The first deployment's members, kept for good in a record on the deployer: an update
        // prints the first stdout again, whatever the plan says now. Bound to the data like the
        // volumes: after `destroy --exclude-protected`, a record made anew from the plan would make
        // members added since founders of another cluster (3 -> 7: four of seven, a quorum).
        const planned = etcdInitialCluster(spec, topology);
        const founders = new command.local.Command(
            `${name}-founders`,
            {
                create: `printf '%s\\n' "$${ETCD_FOUNDERS_RECORD_ENV}"`,
                update: PRINT_RECORD,
                interpreter: ["/bin/sh", "-c"],
                environment: { [ETCD_FOUNDERS_RECORD_ENV]: planned },
            },
            { ...child, protect: spec.protectData },
        );

        const gates = this.membership(spec, topology, specs, target, founders, rootEnv);
        // Checks and auth run through any running member, after every member has passed its gate.
        this.ready = target.runStep({ ...bootstrap, runInAny: specs, triggers: gates.map((g) => g.id) }, { ...child, dependsOn: gates }).resource;

        // Run by revokePreviousConsumerUsers once the consumers have rolled, through any running member.
        if (spec.etcd.auth && spec.etcd.consumerPasswordRotation > 0)
            this.revoke = (after) =>
                target.runStep(
                    {
                        name: `${name}-revoke-previous-users`,
                        runInAny: specs,
                        toolArgv: bootstrap.toolArgv,
                        toolEnv: bootstrap.toolEnv,
                        script: renderEtcdRevokeScript(spec, topology),
                        env: rootEnv,
                        secretEnv: Object.keys(rootEnv),
                        // Each rotation revokes anew (the users it names differ).
                        triggers: [spec.etcd.consumerPasswordRotation],
                    },
                    { ...child, dependsOn: [this.ready, ...after] },
                ).resource;

        this.clientUrls = etcdClientUrls(spec, topology);
        this.tls = spec.etcd.tls;
        this.certificateExpiry = pulumi.output(ca?.expiry ?? {}) as pulumi.Output<Record<string, string>>;
        this.registerOutputs({ clientUrls: this.clientUrls, caCertPem: this.caCertPem, certificateExpiry: this.certificateExpiry });
    }

    /**
     * The record of the password rotations deployed last (render/rotationGuard.ts): refuses a counter
     * that goes down. Bound to the data like the passwords it guards, so it outlives a destroy.
     */
    private rotationGuard(name: string, spec: PlatformSpec): command.local.Command {
        const script = renderRotationGuardScript();
        const counters = rotationRecord({ "etcd.rootPasswordRotation": spec.etcd.rootPasswordRotation, "etcd.consumerPasswordRotation": spec.etcd.consumerPasswordRotation });
        return new command.local.Command(`${name}-rotation-guard`, { create: script, update: script, interpreter: ["/bin/sh", "-c"], environment: { [ROTATION_ENV]: counters } }, { parent: this, protect: spec.protectData });
    }

    /**
     * The CA generations the phase asks for, behind the rotation's guard: a phase that would strand
     * a running member or client fails `pulumi up` before any CA or certificate changes.
     */
    private certificateAuthority(name: string, spec: PlatformSpec): CertificateAuthority {
        const generations = { signing: spec.etcd.caGeneration, trusted: trustedCaGenerations(spec.etcd) };
        const guard = new command.local.Command(
            `${name}-ca-phase`,
            { create: renderCaPhaseScript(), update: renderCaPhaseScript(), interpreter: ["/bin/sh", "-c"], environment: { [CA_PHASE_ENV]: caPhaseRecord(generations) } },
            { parent: this },
        );
        return new CertificateAuthority(`${name}-pki`, `${spec.project}-${spec.stack} etcd CA`, generations, { parent: this, dependsOn: [guard] });
    }

    /**
     * Membership as code (etcdMembership.ts), one member after another: a founders record (the
     * first deployment's members, kept for good); per member a join step (its first-start record:
     * founder, learner added, or repaired) that its service's flags come from, a rollout step
     * (replaced with its container: back before the next member's container may change), then a
     * gate (promote, healthy) whose deletion removes the member before its service goes. Joins,
     * containers and gates chain in member order, so a scale-up adds one learner at a time, a
     * scale-down removes the last first, and an image upgrade replaces one member at a time.
     * Returns the gates.
     */
    private membership(
        spec: PlatformSpec,
        topology: Topology,
        specs: ServiceSpec[],
        target: Target,
        founders: command.local.Command,
        rootEnv: Record<string, pulumi.Output<string>>,
    ): pulumi.CustomResource[] {
        const child = { parent: this };
        const runStep = target.runStep.bind(target);
        const tls = etcdctlConnectionArgs(spec, topology).filter((a) => !a.startsWith("--endpoints="));
        const common = {
            runInAny: specs,
            toolArgv: ["/usr/local/bin/etcdctl", ...tls],
            toolEnv: ["ETCDCTL_USER", "ETCDCTL_ENDPOINTS"],
            secretEnv: Object.keys(rootEnv),
        };
        const foundersList = founders.stdout.apply((s) => s.trim());
        // Where a node takes longer to start than a container (aws), the steps wait for one that long.
        const patience: Record<string, string> = target.nodeStartSeconds
            ? { [ETCD_BOOTSTRAP_ENV.tries]: String(Math.max(ETCD_STEP_DEFAULTS.tries, Math.ceil(target.nodeStartSeconds / ETCD_STEP_DEFAULTS.delaySeconds))) }
            : {};
        const gates: pulumi.CustomResource[] = [];
        let previousJoin: pulumi.Resource = founders;
        let previousRollout: pulumi.Resource | undefined;
        specs.forEach((svc, i) => {
            const env: Record<string, pulumi.Input<string>> = {
                ...etcdMemberStepEnv(spec, topology, i),
                ETCDCTL_ENDPOINTS: etcdClientUrls(spec, topology).join(","),
                ...patience,
                ...rootEnv,
            };
            const join = runStep(
                {
                    ...common,
                    name: `${svc.name}-join`,
                    script: renderEtcdJoinScript(spec),
                    env: { ...env, [ETCD_MEMBER_ENV.founders]: foundersList },
                    // A new address is a new member: join again (repair). `pulumi up --replace` of this step repairs a lost member.
                    triggers: [env[ETCD_MEMBER_ENV.peerUrl], env[ETCD_MEMBER_ENV.clientUrl]],
                    keepOutput: true,
                },
                { ...child, dependsOn: [previousJoin] },
            );
            previousJoin = join.resource;
            // The record holds no secret; the step's env does, which may make its stdout one: keep flags reviewable.
            const first = pulumi.unsecret(join.stdout).apply(parseJoinRecord);
            const container = target.deployService(
                {
                    ...svc,
                    command: first.apply((r) => ["/usr/local/bin/etcd", ...etcdMemberArgs(spec, topology, i, ETCD_CONTAINER_PATHS, r)]),
                    waitHealthy: false,
                },
                // A changed member (an image upgrade) is replaced only once the previous one is back.
                { ...child, dependsOn: [join.resource, ...(previousRollout ? [previousRollout] : [])] },
            ).resource;
            previousRollout = runStep(
                { ...common, name: `${svc.name}-rollout`, script: renderEtcdRolloutScript(spec), env, triggers: [container.id] },
                { ...child, dependsOn: [container] },
            ).resource;
            gates.push(
                runStep(
                    {
                        ...common,
                        name: `${svc.name}-gate`,
                        script: renderEtcdGateScript(spec),
                        deleteScript: renderEtcdRemoveScript(spec),
                        env,
                        triggers: [join.stdout],
                    },
                    { ...child, dependsOn: [container, ...gates.slice(-1)] },
                ).resource,
            );
        });
        return gates;
    }

    /**
     * After a consumer password rotation (etcd.consumerPasswordRotation), deletes the previous
     * consumer users once `consumers` (every service that signs in to etcd) have rolled onto the
     * active ones; before the first rotation there is nothing to revoke and no step.
     */
    revokePreviousConsumerUsers(consumers: pulumi.Resource[]): pulumi.Resource | undefined {
        return this.revoke?.(consumers);
    }

    /** CA bundle and the consumer's client certificate, for a client's pki directory. */
    clientFiles(consumer: EtcdConsumer, paths: { ca: string; cert: string; key: string; trustBundle?: string }): FileSpec[] {
        const cert = this.consumers[consumer].cert;
        if (!this.tls || !cert) return [];
        return [
            { path: paths.ca, content: this.caCertPem },
            ...(paths.trustBundle ? [{ path: paths.trustBundle, content: this.caCertPem, systemRoots: true }] : []),
            { path: paths.cert, content: cert.certPem },
            { path: paths.key, content: cert.keyPem, secret: true },
        ];
    }
}
