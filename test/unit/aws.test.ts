// Target aws under the mock engine: what index.ts registers for EC2 nodes, their network, security
// groups (checked rule by rule against the port matrix), the NLBs, and the path secrets take.
import { MANAGEMENT_TLS_NAME } from "../../components/render/managementTls";
import { dpManagerIdentityConfig } from "../config";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadPlatform } from "../../components/config";
import type { Flow } from "../../components/topology";
import { defaultCall, isSecretWrapper, unwrapSecrets, type RecordedResource } from "../../scripts/lib/mockEngine";
import { GATE_INSTANCE_ENV, renderNodeGateScript } from "../../components/render/awsGate";
import { ETCD_BOOTSTRAP_ENV } from "../../components/render/etcd";
import { PARAMETER_CONTEXT, type PolicyDocument } from "../../components/render/awsPolicies";
import { identityAllows, kmsAllows } from "./iamEval";
import { PROJECT, cfg, dependsOn, find, findPlainSecrets, ofType, registration, runPlatform, scanRun, type PlatformRun } from "./helpers";

const A = {
    vpc: "aws:ec2/vpc:Vpc",
    subnet: "aws:ec2/subnet:Subnet",
    nat: "aws:ec2/natGateway:NatGateway",
    eip: "aws:ec2/eip:Eip",
    igw: "aws:ec2/internetGateway:InternetGateway",
    routeTable: "aws:ec2/routeTable:RouteTable",
    instance: "aws:ec2/instance:Instance",
    volume: "aws:ebs/volume:Volume",
    attachment: "aws:ec2/volumeAttachment:VolumeAttachment",
    sg: "aws:ec2/securityGroup:SecurityGroup",
    ingress: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    egress: "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    role: "aws:iam/role:Role",
    profile: "aws:iam/instanceProfile:InstanceProfile",
    policyAttachment: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    rolePolicy: "aws:iam/rolePolicy:RolePolicy",
    parameter: "aws:ssm/parameter:Parameter",
    kmsKey: "aws:kms/key:Key",
    lb: "aws:lb/loadBalancer:LoadBalancer",
    tg: "aws:lb/targetGroup:TargetGroup",
    listener: "aws:lb/listener:Listener",
    tgAttachment: "aws:lb/targetGroupAttachment:TargetGroupAttachment",
    provider: "pulumi:providers:aws",
} as const;

const REGION = "eu-west-1";
const DSN = "postgres://api7:Dsn-Secret-4e2a@db.internal:5432/api7ee?sslmode=verify-full";
const PREFIX = "gateway-ha-aws";
const GATE = "command:local:Command";
const HC = { intervalSeconds: 10, timeoutSeconds: 4, fall: 4, rise: 3 };

const idOf = (r: RecordedResource) => `${r.name}-id`;
const byId = (run: PlatformRun, type: string, id: unknown) => {
    const r = ofType(run, type).find((x) => idOf(x) === id);
    if (!r) throw new Error(`no ${type} with id ${String(id)}`);
    return r;
};
const nodeOf = (r: RecordedResource) => (r.inputs.tags as Record<string, string>)["gateway-ha:node"];
const instanceOf = (run: PlatformRun, node: string) => find(run, A.instance, `${PREFIX}-${node}`);
const zoneOfInstance = (run: PlatformRun, i: RecordedResource) => byId(run, A.subnet, i.inputs.subnetId).inputs.availabilityZone as string;
const userData = (i: RecordedResource) => parse(i.inputs.userData as string) as { write_files: { path: string; content: string }[] };
const writtenFile = (i: RecordedResource, path: string) => {
    const f = userData(i).write_files.find((w) => w.path === path);
    if (!f) throw new Error(`${i.name} writes no ${path}`);
    return f.content;
};
const awsConfig = (aws: Record<string, unknown> = {}, rest: Record<string, unknown> = {}) =>
    cfg({ target: "aws", aws: { region: REGION, ...aws }, ...rest });

/** Group name of a security group resource (`gateway-ha-aws-<group>`). */
const groupOf = (run: PlatformRun, id: unknown) => byId(run, A.sg, id).name.slice(PREFIX.length + 1);

/** What the port matrix allows, computed here from the flows, independently of the target. */
function expectedIngress(flows: Flow[], sources: { clients: string[]; operators: string[]; monitoring: string[]; ssh: string[] }): string[] {
    const dest = (f: Flow) => (f.to === "load-balancer" ? `${f.balancer}-balancer` : f.to);
    const out = new Set<string>();
    for (const f of flows) {
        const external = { clients: sources.clients, operators: sources.operators, monitoring: sources.monitoring }[f.from as string];
        if (external) for (const cidr of external) out.add(`${dest(f)} tcp/${f.port} from ${cidr}`);
        else out.add(`${dest(f)} tcp/${f.port} from sg:${f.from === "load-balancer" ? `${f.balancer}-balancer` : f.from}`);
    }
    for (const role of new Set(flows.map((f) => f.to).filter((r) => r !== "load-balancer")))
        for (const cidr of sources.ssh) out.add(`${role} tcp/22 from ${cidr}`);
    return [...out].sort();
}

function actualIngress(run: PlatformRun): string[] {
    return ofType(run, A.ingress)
        .map((r) => {
            const i = r.inputs as Record<string, unknown>;
            expect(i.fromPort, r.name).toBe(i.toPort);
            expect(i.description, r.name).toMatch(/\S/);
            const from = i.referencedSecurityGroupId !== undefined ? `sg:${groupOf(run, i.referencedSecurityGroupId)}` : (i.cidrIpv4 as string);
            return `${groupOf(run, i.securityGroupId)} ${i.ipProtocol}/${i.fromPort} from ${from}`;
        })
        .sort();
}

describe("target aws, apisix, standard layout", () => {
    const stack = "awsunit";
    const config = awsConfig({ deregistrationDelaySeconds: 45, monitoringCidr: "10.99.0.0/16" }, { loadBalancer: { healthCheck: HC } });
    const { spec, topology } = loadPlatform(config, { project: PROJECT, stack });
    let run: PlatformRun;
    beforeAll(async () => {
        run = await runPlatform(config, { stack });
    });

    it("one instance per topology node, in its zone's private subnet at its fixed address", () => {
        const instances = ofType(run, A.instance);
        expect(instances.map(nodeOf).sort()).toEqual(topology.nodes.map((n) => n.name).sort());
        expect(ofType(run, A.lb)).toHaveLength(2);
        // The NLBs balance: no haproxy/nginx component, no Docker container anywhere.
        expect(ofType(run, "gateway-ha:index:LoadBalancer")).toEqual([]);
        expect(run.resources.filter((r) => r.type.startsWith("docker:"))).toEqual([]);
        for (const node of topology.nodes) {
            const i = instanceOf(run, node.name);
            const subnet = byId(run, A.subnet, i.inputs.subnetId);
            expect(subnet.name).toBe(`${PREFIX}-private-${node.zone! + 1}`);
            expect(subnet.inputs.cidrBlock).toBe(topology.network!.privateSubnets[node.zone!]);
            expect(subnet.inputs.availabilityZone).toBe(`${REGION}${"abc"[node.zone!]}`);
            expect(i.inputs.privateIp).toBe(node.address);
            expect(i.inputs.instanceType).toBe("t3.medium");
            expect(i.inputs.tags).toMatchObject({ Name: `${stack}-${node.name}`, "gateway-ha:stack": stack, "gateway-ha:role": node.roles.join(",") });
        }
    });

    it("spreads etcd over 3 zones and the control plane and gateways over at least 2", () => {
        const zones = (role: "etcd" | "control-plane" | "data-plane") => new Set(topology.byRole[role].map((n) => zoneOfInstance(run, instanceOf(run, n.name))));
        expect(zones("etcd").size).toBe(3);
        expect(zones("control-plane").size).toBeGreaterThanOrEqual(2);
        expect(zones("data-plane").size).toBeGreaterThanOrEqual(2);
    });

    it("creates the VPC with public and private subnets, a NAT gateway per zone and routes", () => {
        expect(find(run, A.vpc, `${PREFIX}-vpc`).inputs).toMatchObject({ cidrBlock: "10.42.0.0/16", enableDnsHostnames: true, enableDnsSupport: true });
        expect(ofType(run, A.subnet).map((s) => s.inputs.cidrBlock).sort()).toEqual([...topology.network!.privateSubnets, ...topology.network!.publicSubnets].sort());
        const nats = ofType(run, A.nat);
        expect(nats).toHaveLength(3);
        for (const nat of nats) expect(byId(run, A.subnet, nat.inputs.subnetId).name).toMatch(/-public-\d$/);
        expect(ofType(run, A.eip)).toHaveLength(3);
        expect(ofType(run, A.igw)).toHaveLength(1);
        expect(ofType(run, A.routeTable)).toHaveLength(4);
    });

    it("instances: IMDSv2 only, encrypted gp3 root, AMI from the lookup, replaced before created, AMI changes ignored", () => {
        const ami = defaultCall("aws:ec2/getAmi:getAmi", {}).id;
        for (const i of ofType(run, A.instance)) {
            expect(i.inputs.metadataOptions).toEqual({ httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 });
            expect(i.inputs.rootBlockDevice).toMatchObject({ volumeType: "gp3", encrypted: true, volumeSize: 30 });
            expect(i.inputs.ami).toBe(ami);
            expect(i.inputs.userDataReplaceOnChange).toBe(false);
            const reg = registration(run, A.instance, i.name);
            expect(reg.deleteBeforeReplace, i.name).toBe(true);
            expect(reg.ignoreChanges, i.name).toContain("ami");
        }
    });

    it("members of a role update one at a time: each instance waits for the previous one's health gate", () => {
        for (const role of ["etcd", "control-plane", "data-plane"] as const) {
            const members = topology.byRole[role];
            members.slice(1).forEach((node, k) => {
                const deps = registration(run, A.instance, `${PREFIX}-${node.name}`).dependencies;
                expect(deps.some((u) => u.endsWith(`${GATE}::${PREFIX}-${members[k].name}-gate`)), node.name).toBe(true);
            });
        }
    });

    it("a health gate per instance, after it: SSM Run Command on that instance, re-run when the instance or its user data changes", () => {
        for (const node of topology.nodes) {
            const gate = find(run, GATE, `${PREFIX}-${node.name}-gate`);
            const instance = instanceOf(run, node.name);
            expect(dependsOn(registration(run, GATE, gate.name), A.instance, `${PREFIX}-${node.name}`)).toBe(true);
            expect(gate.inputs.create).toBe(renderNodeGateScript({ node: node.name, stack, region: REGION, healthTimeoutSeconds: 900, reachTimeoutSeconds: 600, pollSeconds: 10 }));
            expect(gate.inputs.update).toBe(gate.inputs.create);
            // The mock engine's IDs are `<name>-id`.
            expect((gate.inputs.environment as Record<string, string>)[GATE_INSTANCE_ENV]).toBe(`${instance.name}-id`);
            expect(gate.inputs.triggers).toEqual([`${instance.name}-id`, instance.inputs.userData]);
        }
    });

    const withEtcd = (extra: Record<string, unknown>) => ({ ...config, "gateway-ha:etcd": JSON.stringify({ ...JSON.parse(config["gateway-ha:etcd"] ?? "{}"), ...extra }) });
    const changedNodes = (a: PlatformRun, b: PlatformRun) => topology.nodes.filter((n) => instanceOf(a, n.name).inputs.userData !== instanceOf(b, n.name).inputs.userData).map((n) => n.name);

    it("a rotated root password restarts no node: no boot reads it; the bootstrap step changes it, given the previous one", async () => {
        const rotated = await runPlatform(withEtcd({ rootPasswordRotation: 1 }), { stack });
        expect(changedNodes(rotated, run)).toEqual([]);
        const env = unwrapSecrets(find(rotated, GATE, "gateway-ha-etcd-bootstrap").inputs.environment) as Record<string, string>;
        expect(env[ETCD_BOOTSTRAP_ENV.previousRootPassword]).toMatch(/^mockpw-/);
        expect(env[ETCD_BOOTSTRAP_ENV.previousRootPassword]).not.toBe(env.ETCD_ROOT_PASSWORD);
    });

    it("a consumer password rotation: the consumers' nodes restart onto the new users (their secrets' versions, no value), then a step revokes the previous users after their gates", async () => {
        expect(run.resources.some((r) => r.name.includes("revoke"))).toBe(false);
        const rotated = await runPlatform(withEtcd({ consumerPasswordRotation: 1 }), { stack });
        const revoke = find(rotated, GATE, "gateway-ha-etcd-revoke-previous-users");
        const reg = registration(rotated, GATE, revoke.name);
        const consumers = [...topology.byRole["control-plane"], ...topology.byRole["data-plane"]];
        for (const node of consumers) expect(dependsOn(reg, GATE, `${PREFIX}-${node.name}-gate`), node.name).toBe(true);
        // Through any member: each one's instance reads the root password from its own parameter; the command holds no value.
        const script = String(revoke.inputs.create);
        for (const node of topology.byRole.etcd) expect(script).toContain(`/gateway-ha/${stack}/${node.name}/steps/env/ETCD_ROOT_PASSWORD`);
        expect(Buffer.from(/^gwha_script=(\S+)$/m.exec(script)![1], "base64").toString("utf8")).toContain("revoke 'control-plane' 'control-plane-alt'");
        expect(script).not.toMatch(/mockpw/);
        // Nodes restart for what they read at boot: every consumer node (its etcd password), never for the revoke.
        const changed = changedNodes(rotated, run);
        expect(changed.sort()).toEqual(consumers.map((n) => n.name).sort());
        const line = (r: PlatformRun, n: string) => String(instanceOf(r, n).inputs.userData).match(/# secrets [0-9a-f]{12}$/m)?.[0];
        expect(line(run, changed[0])).toBeDefined();
        expect(line(rotated, changed[0])).not.toBe(line(run, changed[0]));
        for (const n of topology.byRole.etcd) expect(String(instanceOf(rotated, n.name).inputs.userData)).not.toContain("revoke");
    });

    it("etcd data lives on its own encrypted gp3 volume in the member's zone, retained and attached", () => {
        const volumes = ofType(run, A.volume);
        expect(volumes).toHaveLength(3);
        for (const node of topology.byRole.etcd) {
            const i = instanceOf(run, node.name);
            const v = find(run, A.volume, `${node.name}-etcd-data`);
            expect(v.inputs).toMatchObject({ type: "gp3", encrypted: true, size: 20, availabilityZone: zoneOfInstance(run, i) });
            expect(registration(run, A.volume, v.name)).toMatchObject({ protect: true, retainOnDelete: false });
            const att = find(run, A.attachment, `${node.name}-etcd-data`);
            expect(att.inputs).toMatchObject({ instanceId: idOf(i), volumeId: idOf(v), stopInstanceBeforeDetaching: true });
            expect(registration(run, A.attachment, att.name).deleteBeforeReplace).toBe(true);
            const compose = parse(writtenFile(i, "/opt/gateway-ha/compose.yaml")) as { services: Record<string, { volumes: { source: string; target: string }[] }> };
            expect(compose.services[`${node.name}-etcd`].volumes).toContainEqual(expect.objectContaining({ target: "/var/lib/etcd", source: `/var/lib/gateway-ha/volumes/${node.name}-etcd-data/data` }));
            expect(writtenFile(i, "/opt/gateway-ha/apply.sh")).toContain(`/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${idOf(v).replace("-", "")}`);
        }
        // The instances are replaceable; only the data volumes are protected.
        expect(registration(run, A.instance, `${PREFIX}-etcd-1`).protect).toBe(false);
    });

    it("no SSH: no key pair and no port 22", () => {
        for (const i of ofType(run, A.instance)) expect(i.inputs.keyName).toBeUndefined();
        expect(ofType(run, A.ingress).filter((r) => r.inputs.fromPort === 22)).toEqual([]);
    });

    it("each instance has a role of its own, assumable by EC2 only, with no managed policy", () => {
        const roles = new Set<string>();
        for (const i of ofType(run, A.instance)) {
            const profile = ofType(run, A.profile).find((p) => p.state.name === i.inputs.iamInstanceProfile);
            expect(profile, i.name).toBeDefined();
            const role = ofType(run, A.role).find((r) => r.state.name === profile!.inputs.role)!;
            expect((role.inputs.tags as Record<string, string>)["gateway-ha:node"]).toBe(nodeOf(i));
            expect(JSON.parse(role.inputs.assumeRolePolicy as string).Statement).toEqual([{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }]);
            roles.add(role.state.name as string);
            // Its boot reads its parameters: the grants exist before the instance.
            const reg = registration(run, A.instance, i.name);
            for (const policy of ["ssm-agent", "parameters"]) expect(dependsOn(reg, A.rolePolicy, `${PREFIX}-${nodeOf(i)}-${policy}`), `${i.name} after its ${policy} policy`).toBe(true);
        }
        expect(roles.size).toBe(ofType(run, A.instance).length);
        // AmazonSSMManagedInstanceCore would allow ssm:GetParameter(s) on every parameter.
        expect(ofType(run, A.policyAttachment)).toEqual([]);
    });

    it("every parameter is a SecureString under the stack's key, which rotates", () => {
        const key = find(run, A.kmsKey, `${PREFIX}-parameters`);
        expect(key.inputs.enableKeyRotation).toBe(true);
        const parameters = ofType(run, A.parameter);
        expect(parameters.length).toBeGreaterThan(topology.nodes.length);
        for (const p of parameters) {
            expect(p.inputs.type, p.name).toBe("SecureString");
            expect(p.inputs.keyId, p.name).toBe(key.state.arn);
        }
    });

    it("evaluated policies: each node reads and decrypts its own parameters and no other node's, even with an administrator's IAM policy", () => {
        const key = find(run, A.kmsKey, `${PREFIX}-parameters`);
        const keyPolicy = JSON.parse(key.inputs.policy as string) as PolicyDocument;
        const parameters = ofType(run, A.parameter).map((p) => ({ node: (p.inputs.tags as Record<string, string>)["gateway-ha:node"], arn: `arn:aws:ssm:${REGION}:123456789012:parameter${p.inputs.name as string}` }));
        // A parameter of every node, including nodes that hold none yet.
        for (const n of topology.nodes) parameters.push({ node: n.name, arn: `arn:aws:ssm:${REGION}:123456789012:parameter/gateway-ha/${stack}/${n.name}/any` });
        const admin: PolicyDocument = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] };
        for (const n of topology.nodes) {
            const role = find(run, A.role, `${PREFIX}-${n.name}`);
            const policies = ofType(run, A.rolePolicy).filter((p) => p.inputs.role === role.state.name).map((p) => JSON.parse(p.inputs.policy as string) as PolicyDocument);
            const principal = role.state.arn as string;
            const ssm = (arn: string, extra: PolicyDocument[] = []) => identityAllows([...policies, ...extra], { principal, action: "ssm:GetParameter", resource: arn });
            const decrypt = (arn: string, extra: PolicyDocument[] = []) =>
                kmsAllows(keyPolicy, [...policies, ...extra], {
                    principal,
                    action: "kms:Decrypt",
                    resource: key.state.arn as string,
                    context: { [PARAMETER_CONTEXT]: arn, "kms:ViaService": `ssm.${REGION}.amazonaws.com` },
                });
            for (const p of parameters) {
                const own = p.node === n.name;
                expect(ssm(p.arn) && decrypt(p.arn), `${n.name} reads ${p.arn}`).toBe(own);
                // The key refuses another node's parameter whatever the role's IAM policies say.
                expect(decrypt(p.arn, [admin]), `${n.name} with admin decrypts ${p.arn}`).toBe(own);
            }
            // A node cannot encrypt, re-key or administer the key, even with an administrator's policy.
            for (const action of ["kms:Encrypt", "kms:GenerateDataKey", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"])
                expect(kmsAllows(keyPolicy, [...policies, admin], { principal, action, resource: key.state.arn as string }), `${n.name} ${action}`).toBe(false);
        }
        // The deployer (an account principal with IAM rights) still writes and reads parameters.
        const deployer = "arn:aws:iam::123456789012:role/deployer";
        expect(kmsAllows(keyPolicy, [admin], { principal: deployer, action: "kms:Encrypt", resource: key.state.arn as string })).toBe(true);
        expect(kmsAllows(keyPolicy, [], { principal: deployer, action: "kms:Decrypt", resource: key.state.arn as string })).toBe(false);
    });

    it("the SSM agent's own actions only: Run Command and Session Manager, no parameter", () => {
        for (const n of topology.nodes) {
            const agent = JSON.parse(find(run, A.rolePolicy, `${PREFIX}-${n.name}-ssm-agent`).inputs.policy as string) as PolicyDocument;
            const actions = agent.Statement.flatMap((s) => [s.Action ?? []].flat());
            expect(actions).toContain("ssm:UpdateInstanceInformation");
            expect(actions).toContain("ec2messages:GetMessages");
            expect(actions.filter((a) => /parameter|^ssm:\*|^\*$/i.test(a))).toEqual([]);
        }
    });

    it("every ingress rule is one the port matrix asks for, and every one it asks for exists", () => {
        const expected = expectedIngress(topology.flows, { clients: ["0.0.0.0/0"], operators: ["10.42.0.0/16"], monitoring: ["10.99.0.0/16"], ssh: [] });
        expect(actualIngress(run)).toEqual(expected);
        // Spot checks of the matrix itself.
        expect(expected).toContain("etcd tcp/2380 from sg:etcd");
        expect(expected).toContain("data-plane tcp/7085 from sg:gateway-balancer");
        expect(expected).toContain("data-plane tcp/9091 from 10.99.0.0/16");
        expect(expected).toContain("control-plane tcp/9180 from sg:control-plane-balancer");
        expect(expected.filter((r) => r.startsWith("etcd tcp/2379"))).toHaveLength(3);
    });

    it("nothing is open to the internet but the gateway balancer's listeners", () => {
        const open = ofType(run, A.ingress).filter((r) => r.inputs.cidrIpv4 === "0.0.0.0/0");
        expect(open.map((r) => `${groupOf(run, r.inputs.securityGroupId)}:${r.inputs.fromPort}`).sort()).toEqual(["gateway-balancer:443", "gateway-balancer:80"]);
        for (const sg of ofType(run, A.sg)) expect(sg.inputs.ingress ?? [], sg.name).toEqual([]);
    });

    it("egress: all only from the gateways; every other group reaches its flows' peers, and the internet on 443 and 80 for nodes", () => {
        const egress = ofType(run, A.egress).map((r) => {
            const i = r.inputs as Record<string, unknown>;
            const to = i.referencedSecurityGroupId !== undefined ? `sg:${groupOf(run, i.referencedSecurityGroupId)}` : (i.cidrIpv4 as string);
            expect(i.description, r.name).toMatch(/\S/);
            return `${groupOf(run, i.securityGroupId)} ${i.ipProtocol === "-1" ? "all" : `${i.ipProtocol}/${i.fromPort}`} to ${to}`;
        });
        expect(egress.filter((e) => e.includes(" all "))).toEqual(["data-plane all to 0.0.0.0/0"]);
        for (const group of ["etcd", "control-plane"]) expect(egress, group).toEqual(expect.arrayContaining([`${group} tcp/443 to 0.0.0.0/0`, `${group} tcp/80 to 0.0.0.0/0`]));
        expect(egress).toContain("etcd tcp/2380 to sg:etcd");
        expect(egress).toContain("control-plane tcp/2379 to sg:etcd");
        expect(egress).toContain("gateway-balancer tcp/7085 to sg:data-plane");
        // The balancers reach their targets only.
        expect(egress.filter((e) => /-balancer .* to 0\.0\.0\.0\/0/.test(e))).toEqual([]);
        // Whatever a group may receive from another group, that group may send (or sends anywhere).
        for (const rule of actualIngress(run).filter((r) => r.includes(" from sg:"))) {
            const [, dest, proto, from] = /^(\S+) (\S+) from sg:(\S+)$/.exec(rule)!;
            expect(egress.includes(`${from} ${proto} to sg:${dest}`) || egress.includes(`${from} all to 0.0.0.0/0`), rule).toBe(true);
        }
    });

    it("each instance is in its roles' security groups", () => {
        for (const node of topology.nodes) expect((instanceOf(run, node.name).inputs.vpcSecurityGroupIds as string[]).map((id) => groupOf(run, id))).toEqual(node.roles);
    });

    it("gateway NLB: internet-facing in the public subnets, TCP 80 and 443, HTTP checks as configured", () => {
        const lb = find(run, A.lb, `${PREFIX}-gateway`);
        expect(lb.inputs).toMatchObject({ loadBalancerType: "network", internal: false, enableCrossZoneLoadBalancing: true });
        expect((lb.inputs.subnets as string[]).map((id) => byId(run, A.subnet, id).name).sort()).toEqual([1, 2, 3].map((i) => `${PREFIX}-public-${i}`));
        expect((lb.inputs.securityGroups as string[]).map((id) => groupOf(run, id))).toEqual(["gateway-balancer"]);
        const listeners = ofType(run, A.listener).filter((l) => l.inputs.loadBalancerArn === lb.state.arn);
        expect(listeners.map((l) => [l.inputs.port, l.inputs.protocol]).sort()).toEqual([[443, "TCP"], [80, "TCP"]]);
        for (const l of listeners) {
            const [action] = l.inputs.defaultActions as { type: string; targetGroupArn: string }[];
            const tg = ofType(run, A.tg).find((t) => t.state.arn === action.targetGroupArn)!;
            expect(action.type).toBe("forward");
            expect(tg.inputs).toMatchObject({ port: l.inputs.port, protocol: "TCP", targetType: "instance", deregistrationDelay: 45 });
            expect(tg.inputs.healthCheck).toEqual({
                enabled: true,
                protocol: "HTTP",
                port: "7085",
                path: spec.loadBalancer.healthCheck.path,
                matcher: "200",
                interval: 10,
                timeout: 4,
                healthyThreshold: 3,
                unhealthyThreshold: 4,
            });
            const targets = ofType(run, A.tgAttachment).filter((a) => a.inputs.targetGroupArn === tg.state.arn);
            expect(targets.map((a) => byId(run, A.instance, a.inputs.targetId)).map(nodeOf).sort()).toEqual(["dp-1", "dp-2"]);
        }
        expect(spec.loadBalancer.healthCheck.path).toBe("/status/ready");
    });

    it("control-plane NLB: internal, on the fixed addresses, client IP not preserved, TCP checks", () => {
        const lb = find(run, A.lb, `${PREFIX}-control-plane`);
        expect(lb.inputs).toMatchObject({ loadBalancerType: "network", internal: true, enableCrossZoneLoadBalancing: true });
        expect(lb.inputs.subnetMappings).toEqual(
            topology.network!.controlPlaneBalancerAddresses.map((ip, i) => ({ subnetId: `${PREFIX}-private-${i + 1}-id`, privateIpv4Address: ip })),
        );
        expect(topology.network!.controlPlaneBalancerAddresses).toEqual(["10.42.0.10", "10.42.16.10", "10.42.32.10"]);
        const tgs = ofType(run, A.tg).filter((t) => t.name.startsWith(`${PREFIX}-control-plane-`));
        expect(tgs.map((t) => t.inputs.port)).toEqual([9180]);
        expect(tgs[0].inputs).toMatchObject({ preserveClientIp: "false", protocol: "TCP", healthCheck: { protocol: "TCP", interval: 10, healthyThreshold: 3, unhealthyThreshold: 4 } });
        const listener = ofType(run, A.listener).find((l) => l.inputs.loadBalancerArn === lb.state.arn)!;
        expect(listener.inputs.port).toBe(9180);
    });

    it("outputs point at the NLBs' DNS names", () => {
        const gw = find(run, A.lb, `${PREFIX}-gateway`).state.dnsName as string;
        const cp = find(run, A.lb, `${PREFIX}-control-plane`).state.dnsName as string;
        expect(gw).toMatch(/elb/);
        expect(run.outputs.gatewayUrl.value).toBe(`http://${gw}`);
        expect(run.outputs.gatewayHttpsUrl.value).toBe(`https://${gw}`);
        expect(run.outputs.controlPlaneUrl.value).toBe(`https://${cp}:9180`);
        // The NLB passes TCP on: TLS ends on the nodes, whose certificates name the NLB.
        for (const node of ["cp-1", "cp-2"]) expect(find(run, "tls:index/certRequest:CertRequest", `gateway-ha-management-${node}-csr`).inputs.dnsNames).toEqual([MANAGEMENT_TLS_NAME, cp]);
        expect(run.outputs.balancerDnsNames.value).toEqual({ gateway: gw, controlPlane: cp });
        expect(run.outputs.target.value).toBe("aws");
    });

    it("every AWS resource goes through the one explicit provider in aws.region", () => {
        const [provider] = ofType(run, A.provider);
        expect(ofType(run, A.provider)).toHaveLength(1);
        expect(provider.inputs.region).toBe(REGION);
        for (const reg of run.registrations.filter((r) => r.type.startsWith("aws:"))) expect(reg.provider, reg.name).toMatch(new RegExp(`::${provider.name}::`));
    });

    it("user data runs each node's services from a compose file, within AWS's size limit", () => {
        for (const node of topology.nodes) {
            const i = instanceOf(run, node.name);
            const text = i.inputs.userData as string;
            expect(text.startsWith("#cloud-config\n")).toBe(true);
            expect(Buffer.byteLength(text)).toBeLessThan(16 * 1024);
            const compose = parse(writtenFile(i, "/opt/gateway-ha/compose.yaml")) as { services: Record<string, { network_mode: string }> };
            const expected = { etcd: ["etcd"], "control-plane": ["apisix-cp"], "data-plane": ["gateway"] }[node.roles[0] as "etcd"].map((s) => `${node.name}-${s}`);
            expect(Object.keys(compose.services)).toEqual(expected);
        }
        // The etcd bootstrap is a step when pulumi up reaches it (through SSM), not a boot task: no node has one.
        for (const node of topology.nodes) expect(userData(instanceOf(run, node.name)).write_files.map((f) => f.path).filter((p) => p.includes("/tasks/"))).toEqual([]);
    });

    it("no secret is in user data or any plain input; parameters hold them as secrets under the node's path", () => {
        expect(run.generatedSecrets.length).toBeGreaterThanOrEqual(10);
        expect(scanRun(run, run.generatedSecrets)).toEqual([]);
        // User data is plain (reviewable), so the scan above read all of it; a secret in it would have made it a secret.
        for (const i of ofType(run, A.instance)) {
            expect(typeof i.inputs.userData, i.name).toBe("string");
            expect(findPlainSecrets(unwrapSecrets(i.inputs), run.generatedSecrets, i.name)).toEqual([]);
        }
        const params = ofType(run, A.parameter);
        for (const p of params) {
            expect(p.inputs.type).toBe("SecureString");
            expect(isSecretWrapper(p.inputs.value), p.name).toBe(true);
            expect(p.inputs.name).toMatch(new RegExp(`^/gateway-ha/${stack}/(etcd|cp|dp)-\\d/`));
        }
        // Member keys, passwords: every generated secret that a node needs is in a parameter.
        const stored = params.map((p) => unwrapSecrets(p.inputs.value) as string);
        const keyOfMember = (n: number) => run.resources.find((r) => r.name.endsWith(`member-${n}-key`))!;
        expect(stored).toContain(unwrapSecrets(keyOfMember(1).state.privateKeyPem));
        // Each node's manifest names only its own parameters.
        for (const node of topology.nodes) {
            const manifest = JSON.parse(writtenFile(instanceOf(run, node.name), "/opt/gateway-ha/secrets.json")) as { parameter: string }[];
            expect(manifest.length, node.name).toBeGreaterThan(0);
            for (const m of manifest) {
                expect(m.parameter.startsWith(`/gateway-ha/${stack}/${node.name}/`), m.parameter).toBe(true);
                expect(params.map((p) => p.inputs.name)).toContain(m.parameter);
            }
        }
        expect(run.outputs.adminKey.secret).toBe(true);
    });
});

describe("target aws, internal gateway balancer, SSH, single NAT", () => {
    const config = awsConfig({ gatewayBalancer: { internetFacing: false }, ssh: { keyName: "ops", sourceCidr: "192.0.2.0/24" }, natGateways: "single" });
    const { topology } = loadPlatform(config, { project: PROJECT, stack: "awsinternal" });
    let run: PlatformRun;
    beforeAll(async () => {
        run = await runPlatform(config, { stack: "awsinternal" });
    });

    it("no ingress from 0.0.0.0/0 at all; clients default to the VPC", () => {
        expect(ofType(run, A.ingress).filter((r) => r.inputs.cidrIpv4 === "0.0.0.0/0")).toEqual([]);
        expect(actualIngress(run)).toEqual(expectedIngress(topology.flows, { clients: ["10.42.0.0/16"], operators: ["10.42.0.0/16"], monitoring: [], ssh: ["192.0.2.0/24"] }));
        const lb = find(run, A.lb, `${PREFIX}-gateway`);
        expect(lb.inputs.internal).toBe(true);
        expect((lb.inputs.subnets as string[]).map((id) => byId(run, A.subnet, id).name).sort()).toEqual([1, 2, 3].map((i) => `${PREFIX}-private-${i}`));
    });

    it("SSH: the key on every instance and port 22 from the source CIDR on every node group", () => {
        for (const i of ofType(run, A.instance)) expect(i.inputs.keyName).toBe("ops");
        const ssh = ofType(run, A.ingress).filter((r) => r.inputs.fromPort === 22);
        expect(ssh.map((r) => `${groupOf(run, r.inputs.securityGroupId)} ${r.inputs.cidrIpv4}`).sort()).toEqual(
            ["control-plane", "data-plane", "etcd"].map((g) => `${g} 192.0.2.0/24`),
        );
    });

    it("one NAT gateway serves every private subnet", () => {
        expect(ofType(run, A.nat)).toHaveLength(1);
        expect(ofType(run, A.eip)).toHaveLength(1);
    });
});

describe("target aws, existing VPC", () => {
    const sn = (kind: string, i: number, cidr: string) => ({ id: `subnet-0${kind}${i}0000000`, zone: `${REGION}${"abc"[i]}`, cidr });
    const existingVpc = {
        vpcId: "vpc-0123456789abcdef0",
        cidr: "10.7.0.0/16",
        privateSubnets: [0, 1, 2].map((i) => sn("a", i, `10.7.${i}.0/24`)),
        publicSubnets: [0, 1, 2].map((i) => sn("b", i, `10.7.${100 + i}.0/24`)),
    };
    const config = awsConfig({ existingVpc });
    const { topology } = loadPlatform(config, { project: PROJECT, stack: "awsexisting" });
    let run: PlatformRun;
    beforeAll(async () => {
        run = await runPlatform(config, { stack: "awsexisting" });
    });

    it("creates no VPC, subnet, gateway or route table, and places nodes in the given subnets", () => {
        for (const t of [A.vpc, A.subnet, A.nat, A.eip, A.igw, A.routeTable]) expect(ofType(run, t), t).toEqual([]);
        for (const node of topology.nodes) expect(instanceOf(run, node.name).inputs.subnetId).toBe(existingVpc.privateSubnets[node.zone!].id);
        for (const sg of ofType(run, A.sg)) expect(sg.inputs.vpcId).toBe(existingVpc.vpcId);
        expect(find(run, A.lb, `${PREFIX}-gateway`).inputs.subnets).toEqual(existingVpc.publicSubnets.map((s) => s.id));
        expect(find(run, A.volume, "etcd-2-etcd-data").inputs.availabilityZone).toBe(`${REGION}b`);
        // Operators default to the existing VPC's CIDR.
        expect(ofType(run, A.ingress).filter((r) => r.inputs.fromPort === 9180 && r.inputs.cidrIpv4).map((r) => r.inputs.cidrIpv4)).toEqual(["10.7.0.0/16"]);
    });
});

describe("target aws, api7-v3, compact layout", () => {
    const config = awsConfig({}, { flavor: "api7-v3", layout: "compact", controlPlane: { databaseDsn: DSN }, dataPlane: { dpManagerIdentity: dpManagerIdentityConfig() } });
    const { topology } = loadPlatform(config, { project: PROJECT, stack: "awsv3" });
    let run: PlatformRun;
    beforeAll(async () => {
        run = await runPlatform(config, { stack: "awsv3", secretKeys: ["gateway-ha:controlPlane", "gateway-ha:dataPlane"] });
    });

    it("deploys the compact nodes, and the DSN only as a SecureString parameter", () => {
        expect(ofType(run, A.instance).map(nodeOf).sort()).toEqual(topology.nodes.map((n) => n.name).sort());
        expect(ofType(run, A.volume)).toEqual([]);
        expect(scanRun(run, [DSN, ...run.generatedSecrets])).toEqual([]);
        const withDsn = ofType(run, A.parameter).filter((p) => String(unwrapSecrets(p.inputs.value)).includes(DSN));
        expect(withDsn.length).toBe(4); // dashboard and DP Manager config on each control-plane node
        for (const p of withDsn) expect(isSecretWrapper(p.inputs.value)).toBe(true);
    });

    it("API7's control plane keeps all egress (its database, identity providers); the gateways too", () => {
        const all = ofType(run, A.egress).filter((r) => r.inputs.ipProtocol === "-1").map((r) => `${byId(run, A.sg, r.inputs.securityGroupId).name.slice(PREFIX.length + 1)} to ${r.inputs.cidrIpv4}`);
        expect(all.sort()).toEqual(["control-plane to 0.0.0.0/0", "data-plane to 0.0.0.0/0"]);
    });

    it("the DP Manager is reachable from the gateways through the control-plane balancer, and the rules match the matrix", () => {
        expect(actualIngress(run)).toEqual(expectedIngress(topology.flows, { clients: ["0.0.0.0/0"], operators: ["10.42.0.0/16"], monitoring: [], ssh: [] }));
        expect(actualIngress(run)).toContain("control-plane-balancer tcp/7943 from sg:data-plane");
        const tgs = ofType(run, A.tg).filter((t) => t.name.startsWith(`${PREFIX}-control-plane-`));
        expect(tgs.map((t) => t.inputs.port).sort()).toEqual([17080, 7943]);
        // The dashboard serves HTTPS and the NLB passes TCP on: TLS ends on the nodes, whose certificates name the NLB.
        const cp = find(run, A.lb, `${PREFIX}-control-plane`).state.dnsName as string;
        expect(run.outputs.controlPlaneUrl.value).toBe(`https://${cp}:17080`);
        for (const node of ["node-1", "node-2"]) expect(find(run, "tls:index/certRequest:CertRequest", `gateway-ha-management-${node}-csr`).inputs.dnsNames).toEqual([MANAGEMENT_TLS_NAME, cp]);
    });

    it("one IAM role per node", () => {
        const roles = ofType(run, A.role).map((r) => r.name).sort();
        expect(roles).toEqual(ofType(run, A.instance).map((i) => i.name).sort());
    });
});

describe("target aws, apisix compact layout", () => {
    const config = awsConfig({}, { layout: "compact" });
    const { topology } = loadPlatform(config, { project: PROJECT, stack: "awscompact" });
    let run: PlatformRun;
    beforeAll(async () => {
        run = await runPlatform(config, { stack: "awscompact" });
    });

    it("etcd + control plane share nodes 1-2, each under its own role; etcd spans 3 zones", () => {
        expect(topology.nodes.map((n) => n.name)).toEqual(["node-1", "node-2", "node-3", "node-4", "node-5"]);
        const zones = new Set(topology.byRole.etcd.map((n) => zoneOfInstance(run, instanceOf(run, n.name))));
        expect(zones.size).toBe(3);
        const profile = instanceOf(run, "node-1").inputs.iamInstanceProfile;
        expect(ofType(run, A.profile).find((p) => p.state.name === profile)!.name).toBe(`${PREFIX}-node-1`);
        const compose = parse(writtenFile(instanceOf(run, "node-1"), "/opt/gateway-ha/compose.yaml")) as { services: Record<string, unknown> };
        expect(Object.keys(compose.services).sort()).toEqual(["node-1-apisix-cp", "node-1-etcd"]);
        expect(scanRun(run, run.generatedSecrets)).toEqual([]);
    });
});
