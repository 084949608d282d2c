// AWS target: one EC2 instance per topology node, in its zone's private subnet at the node's fixed
// address, running the node's services with Docker Compose from cloud-init user data (the same
// ServiceSpecs the Docker target runs). Security groups come from the port matrix; an NLB fronts
// the gateways and an internal one, on fixed addresses, the control plane. Secrets travel through
// SSM Parameter Store, never through user data.
import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { GATE_INSTANCE_ENV, renderNodeGateScript } from "../render/awsGate";
import { nodeParametersPolicy, parameterKeyPolicy, ssmAgentPolicy } from "../render/awsPolicies";
import { renderAwsStepScript } from "../render/awsStep";
import { OWNER_FROM_IMAGE, checkUserDataSize, renderCloudConfig, type NodeBoot, type NodeService, type NodeTask } from "../render/cloudInit";
import {
    dependsOnList,
    deployerStep,
    LABELS,
    serviceLabels,
    type DeployedService,
    type EntryPoints,
    type ServiceSpec,
    type StepResult,
    type StepSpec,
    type Target,
    type TaskSpec,
    type WorkloadRole,
    FROM_IMAGE,
    withSecretEnvFiles,
} from "../service";
import type { Role } from "../config/schema";
import type { PlatformSpec } from "../config/types";
import { egressRules, firewallRules, type FirewallGroup } from "../topology/firewall";
import { controlPlanePorts, controlPlaneUrl } from "../topology/ports";
import type { TopologyNode } from "../topology/types";
import { componentType, withPreviousToken } from "../tokens";
import { requirePlan } from "../blockArgs";
import type { PlatformPlan } from "../plan";

export interface AwsTargetArgs {
    /** The platform it deploys (planPlatform). */
    plan: PlatformPlan;
}

/** Tag keys on every node (besides Name and aws.tags). */
export const TAGS = { stack: "gateway-ha:stack", node: "gateway-ha:node", role: "gateway-ha:role" } as const;

/** The device name the data volumes are attached as; Nitro instances show them as NVMe anyway. */
const DATA_DEVICES = ["/dev/sdf", "/dev/sdg", "/dev/sdh", "/dev/sdi"];

/**
 * Security groups that keep all egress: gateways proxy to any upstream, and the API7 control planes
 * reach what the platform does not know (their database, identity providers, mail).
 */
export function openEgressGroups(spec: Pick<PlatformSpec, "flavor">): FirewallGroup[] {
    return spec.flavor === "apisix" ? ["data-plane"] : ["data-plane", "control-plane"];
}

/** Instance type: the node's first role's, else the default. */
export function instanceTypeOf(spec: PlatformSpec, node: Pick<TopologyNode, "roles">): string {
    const types = spec.aws.instanceTypes as Record<string, string | undefined>;
    return types[node.roles[0]] ?? spec.aws.instanceTypes.default;
}

/** Once an instance runs: its boot (image pulls, the etcd bootstrap's retries) and services' health. */
const GATE_HEALTH_TIMEOUT_SECONDS = 900;
/** Until a started instance's SSM agent answers. */
const GATE_REACH_TIMEOUT_SECONDS = 600;
const GATE_POLL_SECONDS = 10;
/** A step's script on an instance: its waits (each up to nodeStartSeconds) and more. */
const STEP_RUN_SECONDS = 2 * GATE_HEALTH_TIMEOUT_SECONDS + 300;
/** A running instance whose agent does not answer within this is passed over for the next member. */
const STEP_REACH_TIMEOUT_SECONDS = 60;
const STEP_POLL_SECONDS = 2;

/** SSM parameter path prefix of a node: its instance may read exactly this subtree. */
export function parameterPrefix(spec: PlatformSpec, node: string): string {
    return `/gateway-ha/${spec.instance}/${node}`;
}

/** Resource-name fragment from a path or CIDR. */
const slug = (s: string) => s.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "");

/** AWS accepts only these characters in security-group rule descriptions. */
const ruleDescription = (s: string) => s.replace(/[^A-Za-z0-9. _\-:/()#,@[\]+=&;{}!$*]/g, " ").slice(0, 255);

interface NodeState {
    node: TopologyNode;
    instance: aws.ec2.Instance;
    /** Its health gate: done once the instance has booted this user data and its services are healthy. */
    gate: command.local.Command;
    services: pulumi.Output<NodeService>[];
    tasks: pulumi.Output<NodeTask>[];
    /** Non-secret file contents, checked for Pulumi secrets before they go into user data. */
    plainContents: { where: string; content: pulumi.Input<string> }[];
    /** Versions of the node's SSM parameters: in its user data, so a changed secret restarts the node. */
    parameterVersions: pulumi.Output<number>[];
    /**
     * What the instance's (re)start waits for besides its role's previous node: for a service whose
     * steps establish its health (an etcd member), the steps its component orders it after (its join
     * record, the previous member back as a healthy voter), as the node's gate cannot tell.
     */
    waitFor: pulumi.Resource[];
    resolveUserData: (userData: pulumi.Output<string>) => void;
}

export class AwsTarget extends pulumi.ComponentResource implements Target {
    readonly plan: PlatformPlan;
    readonly provider: aws.Provider;
    readonly vpcId: pulumi.Output<string>;
    readonly gatewayBalancer: aws.lb.LoadBalancer;
    readonly controlPlaneBalancer: aws.lb.LoadBalancer;
    readonly instances: Record<string, aws.ec2.Instance>;
    private readonly spec: PlatformSpec;
    private readonly nodes = new Map<string, NodeState>();
    /** Each node's IAM role. */
    private readonly nodeRoles = new Map<string, aws.iam.Role>();
    /** Encrypts the nodes' parameters; see render/awsPolicies.ts. */
    readonly parameterKey: aws.kms.Key;
    private readonly zoneNames: pulumi.Output<string[]>;
    private readonly ssmArn: pulumi.Output<string>;
    /** A node boots, installs Docker and pulls its images before its services run: its gate's bound. */
    readonly nodeStartSeconds = GATE_HEALTH_TIMEOUT_SECONDS;
    /** The steps' secret variables, one parameter per node and variable, shared by every step. */
    private readonly stepParameters = new Map<string, { value: pulumi.Input<string>; parameter: aws.ssm.Parameter }>();
    private completed = false;

    constructor(name: string, args: AwsTargetArgs, opts?: pulumi.ComponentResourceOptions) {
        // Checked before super(): a refused target registers nothing.
        const plan = requirePlan("AwsTarget", name, args, "aws");
        const { spec, topology } = plan;
        const network = topology.network;
        if (!network) throw new Error(`AwsTarget ${name}: the topology has no AWS network plan (target ${spec.target})`);
        if (!spec.aws.region) throw new Error(`AwsTarget ${name}: aws.region is required`);
        super(componentType("AwsTarget"), name, {}, withPreviousToken("gateway-ha:targets:AwsTarget", opts));
        this.plan = plan;
        const a = spec.aws;
        this.spec = spec;
        this.provider = new aws.Provider(
            `${name}-provider`,
            { region: a.region, defaultTags: { tags: { ...a.tags, [TAGS.stack]: spec.instance } } },
            { parent: this },
        );
        const res = { parent: this, provider: this.provider };
        const invoke = { parent: this, provider: this.provider };
        const tags = (what: string, extra: Record<string, string> = {}) => ({ Name: `${spec.instance}-${what}`, [TAGS.stack]: spec.instance, ...a.tags, ...extra });

        // Zones: the existing subnets', the configured ones, or the region's first available ones.
        const zoneCount = network.zoneCount;
        this.zoneNames = a.existingVpc
            ? pulumi.output(a.existingVpc.privateSubnets.map((s) => s.zone))
            : a.zones
              ? pulumi.output(a.zones)
              : aws
                    .getAvailabilityZonesOutput({ state: "available", filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }] }, invoke)
                    .names.apply((names) => {
                        if (names.length < zoneCount) throw new Error(`aws.region ${a.region} has ${names.length} available zones; the platform spans ${zoneCount}`);
                        return names.slice(0, zoneCount);
                    });
        const zone = (i: number) => this.zoneNames.apply((z) => z[i]);

        let privateSubnetIds: pulumi.Input<string>[];
        let publicSubnetIds: pulumi.Input<string>[];
        if (a.existingVpc) {
            this.vpcId = pulumi.output(a.existingVpc.vpcId);
            privateSubnetIds = a.existingVpc.privateSubnets.map((s) => s.id);
            publicSubnetIds = a.existingVpc.publicSubnets.map((s) => s.id);
        } else {
            const vpc = new aws.ec2.Vpc(`${name}-vpc`, { cidrBlock: network.vpcCidr, enableDnsHostnames: true, enableDnsSupport: true, tags: tags("vpc") }, res);
            this.vpcId = vpc.id;
            const subnet = (kind: "private" | "public", cidr: string, i: number) =>
                new aws.ec2.Subnet(`${name}-${kind}-${i + 1}`, { vpcId: vpc.id, cidrBlock: cidr, availabilityZone: zone(i), tags: tags(`${kind}-${i + 1}`) }, res);
            const privateSubnets = network.privateSubnets.map((c, i) => subnet("private", c, i));
            const publicSubnets = network.publicSubnets.map((c, i) => subnet("public", c, i));
            privateSubnetIds = privateSubnets.map((s) => s.id);
            publicSubnetIds = publicSubnets.map((s) => s.id);

            const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags: tags("igw") }, res);
            const publicRoutes = new aws.ec2.RouteTable(`${name}-public`, { vpcId: vpc.id, tags: tags("public") }, res);
            new aws.ec2.Route(`${name}-public-default`, { routeTableId: publicRoutes.id, destinationCidrBlock: "0.0.0.0/0", gatewayId: igw.id }, res);
            publicSubnets.forEach((s, i) => new aws.ec2.RouteTableAssociation(`${name}-public-${i + 1}`, { subnetId: s.id, routeTableId: publicRoutes.id }, res));

            // Nodes pull images and reach SSM through NAT: one per zone survives a zone's loss, one in total is cheaper.
            const natCount = a.natGateways === "single" ? 1 : zoneCount;
            const nats = Array.from({ length: natCount }, (_, i) => {
                const eip = new aws.ec2.Eip(`${name}-nat-${i + 1}`, { domain: "vpc", tags: tags(`nat-${i + 1}`) }, res);
                return new aws.ec2.NatGateway(`${name}-nat-${i + 1}`, { allocationId: eip.id, subnetId: publicSubnets[i].id, tags: tags(`nat-${i + 1}`) }, { ...res, dependsOn: [igw] });
            });
            privateSubnets.forEach((s, i) => {
                const rt = new aws.ec2.RouteTable(`${name}-private-${i + 1}`, { vpcId: vpc.id, tags: tags(`private-${i + 1}`) }, res);
                new aws.ec2.Route(`${name}-private-${i + 1}-default`, { routeTableId: rt.id, destinationCidrBlock: "0.0.0.0/0", natGatewayId: nats[Math.min(i, natCount - 1)].id }, res);
                new aws.ec2.RouteTableAssociation(`${name}-private-${i + 1}`, { subnetId: s.id, routeTableId: rt.id }, res);
            });
        }

        // Security groups: one per node role and one per balancer, rules from the port matrix.
        const nodeGroups = [...new Set(topology.nodes.flatMap((n) => n.roles))].filter((r): r is Exclude<Role, "load-balancer"> => r !== "load-balancer");
        const groups = new Map<FirewallGroup, aws.ec2.SecurityGroup>();
        for (const group of [...nodeGroups, "gateway-balancer", "control-plane-balancer"] as FirewallGroup[]) {
            const sg = new aws.ec2.SecurityGroup(`${name}-${group}`, { vpcId: this.vpcId, description: `gateway-ha ${spec.instance} ${group}`, tags: tags(group) }, res);
            groups.set(group, sg);
        }
        // Egress from the flows (topology/firewall.ts): open only where the peers are not known.
        for (const rule of egressRules(topology.flows, [...groups.keys()], openEgressGroups(spec))) {
            const target = groups.get(rule.group)!;
            const dest = "group" in rule.to ? groups.get(rule.to.group) : undefined;
            if ("group" in rule.to && !dest) throw new Error(`AwsTarget ${name}: no security group for ${rule.to.group}`);
            new aws.vpc.SecurityGroupEgressRule(
                // All egress keeps the name it always had, so an open group's rule is not replaced.
                rule.protocol === "all"
                    ? `${name}-${rule.group}-egress`
                    : `${name}-${rule.group}-egress-${rule.protocol}${rule.port}-to-${"group" in rule.to ? rule.to.group : slug(rule.to.cidr)}`,
                {
                    securityGroupId: target.id,
                    ...(rule.protocol === "all" ? { ipProtocol: "-1" } : { ipProtocol: rule.protocol, fromPort: rule.port, toPort: rule.port }),
                    ...(dest ? { referencedSecurityGroupId: dest.id } : { cidrIpv4: (rule.to as { cidr: string }).cidr }),
                    description: ruleDescription(rule.description),
                },
                res,
            );
        }
        const vpcCidr = network.vpcCidr;
        const rules = firewallRules(topology.flows, {
            clients: a.gatewayBalancer.clientCidrs ?? [a.gatewayBalancer.internetFacing ? "0.0.0.0/0" : vpcCidr],
            operators: a.operatorCidrs ?? [vpcCidr],
            monitoring: a.monitoringCidr ? [a.monitoringCidr] : [],
            ssh: a.ssh ? [a.ssh.sourceCidr] : [],
        });
        for (const rule of rules) {
            const target = groups.get(rule.group);
            if (!target) throw new Error(`AwsTarget ${name}: no security group for ${rule.group}`);
            const source = "group" in rule.from ? groups.get(rule.from.group) : undefined;
            if ("group" in rule.from && !source) throw new Error(`AwsTarget ${name}: no security group for ${rule.from.group}`);
            new aws.vpc.SecurityGroupIngressRule(
                `${name}-${rule.group}-${rule.protocol}${rule.port}-from-${"group" in rule.from ? rule.from.group : slug(rule.from.cidr)}`,
                {
                    securityGroupId: target.id,
                    ipProtocol: rule.protocol,
                    fromPort: rule.port,
                    toPort: rule.port,
                    ...(source ? { referencedSecurityGroupId: source.id } : { cidrIpv4: (rule.from as { cidr: string }).cidr }),
                    description: ruleDescription(rule.description),
                },
                res,
            );
        }

        // One IAM role per node: the SSM agent's own actions (Run Command, Session Manager; no SSH), and
        // its own parameters, under a key of the stack's whose policy refuses every node role the rest.
        const partition = aws.getPartitionOutput({}, invoke).partition;
        const account = aws.getCallerIdentityOutput({}, invoke).accountId;
        this.ssmArn = pulumi.interpolate`arn:${partition}:ssm:${a.region}:${account}:parameter`;
        const profiles = new Map<string, aws.iam.InstanceProfile>();
        for (const node of topology.nodes) {
            const iamRole = new aws.iam.Role(
                `${name}-${node.name}`,
                {
                    assumeRolePolicy: JSON.stringify({
                        Version: "2012-10-17",
                        Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
                    }),
                    tags: tags(node.name, { [TAGS.node]: node.name }),
                },
                res,
            );
            this.nodeRoles.set(node.name, iamRole);
            profiles.set(node.name, new aws.iam.InstanceProfile(`${name}-${node.name}`, { role: iamRole.name, tags: tags(node.name, { [TAGS.node]: node.name }) }, res));
        }
        const prefixArn = (node: string) => pulumi.interpolate`${this.ssmArn}${parameterPrefix(spec, node)}`;
        this.parameterKey = new aws.kms.Key(
            `${name}-parameters`,
            {
                description: `gateway-ha ${spec.instance}: the nodes' SSM parameters`,
                enableKeyRotation: true,
                deletionWindowInDays: 30,
                policy: pulumi
                    .all([
                        pulumi.interpolate`arn:${partition}:iam::${account}:root`,
                        pulumi.all(topology.nodes.map((n) => pulumi.all([this.nodeRoles.get(n.name)!.arn, prefixArn(n.name)]))),
                    ])
                    .apply(([accountRoot, nodes]) => JSON.stringify(parameterKeyPolicy({ accountRoot, nodes: nodes.map(([roleArn, p]) => ({ roleArn, prefixArn: p })) }))),
                tags: tags("parameters"),
            },
            res,
        );
        const nodePolicies = new Map<string, aws.iam.RolePolicy[]>();
        for (const node of topology.nodes) {
            const role = this.nodeRoles.get(node.name)!.name;
            nodePolicies.set(node.name, [
                new aws.iam.RolePolicy(`${name}-${node.name}-ssm-agent`, { role, policy: JSON.stringify(ssmAgentPolicy()) }, res),
                new aws.iam.RolePolicy(
                    `${name}-${node.name}-parameters`,
                    {
                        role,
                        policy: pulumi
                            .all([prefixArn(node.name), this.parameterKey.arn])
                            .apply(([p, keyArn]) => JSON.stringify(nodeParametersPolicy({ prefixArn: p, keyArn, region: a.region! }))),
                    },
                    res,
                ),
            ]);
        }

        // Looked up by filter, never a literal ID, so every region and account finds its own image.
        const ami = aws.ec2.getAmiOutput(
            {
                owners: a.ami.owners,
                mostRecent: true,
                filters: [
                    { name: "name", values: [a.ami.namePattern] },
                    { name: "architecture", values: [a.ami.architecture] },
                    { name: "virtualization-type", values: ["hvm"] },
                    { name: "root-device-type", values: ["ebs"] },
                ],
            },
            invoke,
        );

        // Instances exist before the components hand over their services, so components can depend on
        // them; each one's user data waits for complete(), which renders it from everything collected.
        const previousOfRole = new Map<Role, pulumi.Resource>();
        for (const node of topology.nodes) {
            if (node.zone === undefined) throw new Error(`AwsTarget ${name}: node ${node.name} has no zone`);
            let resolveUserData!: (userData: pulumi.Output<string>) => void;
            const userData = new Promise<pulumi.Output<string>>((resolve) => (resolveUserData = resolve));
            const primary = node.roles[0];
            const previous = previousOfRole.get(primary);
            const instance = new aws.ec2.Instance(
                `${name}-${node.name}`,
                {
                    ami: ami.id,
                    instanceType: instanceTypeOf(spec, node),
                    subnetId: privateSubnetIds[node.zone],
                    // Fixed: etcd's initial cluster, its certificates and the gateways' config name it.
                    privateIp: node.address,
                    vpcSecurityGroupIds: node.roles.filter((r) => groups.has(r as FirewallGroup)).map((r) => groups.get(r as FirewallGroup)!.id),
                    iamInstanceProfile: profiles.get(node.name)!.name,
                    ...(a.ssh ? { keyName: a.ssh.keyName } : {}),
                    // IMDSv2 only, one hop: every container runs on the host's network, so nothing needs a
                    // second hop, and a bridged container (one hop further) cannot take the node's role.
                    metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 },
                    rootBlockDevice: { volumeType: "gp3", volumeSize: a.rootVolumeGb, encrypted: true, deleteOnTermination: true },
                    // Plain text, so `pulumi preview` shows the node's compose file and scripts; it holds no secret.
                    userData: pulumi.output(userData).apply((u) => u),
                    // A changed user data stops, updates and starts the instance; the per-boot script re-applies it.
                    userDataReplaceOnChange: false,
                    tags: tags(node.name, { [TAGS.node]: node.name, [TAGS.role]: node.roles.join(",") }),
                },
                {
                    ...res,
                    // The fixed private address cannot be held by two instances at once.
                    deleteBeforeReplace: true,
                    // A newer image must not replace etcd members (and every other node) on the next `up`;
                    // replace nodes deliberately, one at a time.
                    ignoreChanges: ["ami"],
                    // Its boot reads its parameters. Members of a role update one after another, each once
                    // the previous one passed its gate.
                    dependsOn: [...nodePolicies.get(node.name)!, ...(previous ? [previous] : [])],
                },
            );
            // The provider waits for "running" only: the gate asks the instance (SSM Run Command) until
            // its boot succeeded and its services are healthy, and fails `pulumi up` otherwise. It runs
            // again whenever the instance or its user data changes (a restart).
            const gateScript = renderNodeGateScript({
                node: node.name,
                stack: spec.instance,
                region: a.region,
                healthTimeoutSeconds: GATE_HEALTH_TIMEOUT_SECONDS,
                reachTimeoutSeconds: GATE_REACH_TIMEOUT_SECONDS,
                pollSeconds: GATE_POLL_SECONDS,
            });
            const gate = new command.local.Command(
                `${name}-${node.name}-gate`,
                {
                    create: gateScript,
                    update: gateScript,
                    interpreter: ["/bin/sh", "-c"],
                    environment: { [GATE_INSTANCE_ENV]: instance.id },
                    triggers: [instance.id, instance.userData],
                },
                { parent: this, dependsOn: [instance] },
            );
            previousOfRole.set(primary, gate);
            this.nodes.set(node.name, { node, instance, gate, services: [], tasks: [], plainContents: [], parameterVersions: [], waitFor: [], resolveUserData });

        }
        this.instances = Object.fromEntries([...this.nodes].map(([n, s]) => [n, s.instance]));

        // Gateway balancer: TCP pass-through on the gateways' HTTP and HTTPS ports, HTTP checks on the status port.
        const hc = spec.loadBalancer.healthCheck;
        const dp = spec.dataPlane;
        this.gatewayBalancer = new aws.lb.LoadBalancer(
            `${name}-gateway`,
            {
                loadBalancerType: "network",
                internal: !a.gatewayBalancer.internetFacing,
                subnets: a.gatewayBalancer.internetFacing ? publicSubnetIds : privateSubnetIds,
                securityGroups: [groups.get("gateway-balancer")!.id],
                enableCrossZoneLoadBalancing: true,
                tags: tags("gateway"),
            },
            res,
        );
        const gatewayNodes = topology.byRole["data-plane"];
        for (const port of [dp.httpPort, dp.httpsPort]) {
            const tg = new aws.lb.TargetGroup(
                `${name}-gateway-${port}`,
                {
                    port,
                    protocol: "TCP",
                    targetType: "instance",
                    vpcId: this.vpcId,
                    deregistrationDelay: a.deregistrationDelaySeconds,
                    healthCheck: {
                        enabled: true,
                        protocol: "HTTP",
                        port: String(hc.port),
                        path: hc.path,
                        matcher: "200",
                        interval: hc.intervalSeconds,
                        timeout: hc.timeoutSeconds,
                        healthyThreshold: hc.rise,
                        unhealthyThreshold: hc.fall,
                    },
                    tags: tags(`gateway-${port}`),
                },
                res,
            );
            new aws.lb.Listener(`${name}-gateway-${port}`, { loadBalancerArn: this.gatewayBalancer.arn, port, protocol: "TCP", defaultActions: [{ type: "forward", targetGroupArn: tg.arn }] }, res);
            for (const node of gatewayNodes)
                new aws.lb.TargetGroupAttachment(`${name}-gateway-${port}-${node.name}`, { targetGroupArn: tg.arn, targetId: this.nodes.get(node.name)!.instance.id, port }, res);
        }

        // Control-plane balancer: internal, on the fixed addresses the gateways (api7-v3) and the Admin
        // API allow-list name. The source the control plane sees is the balancer's own address.
        this.controlPlaneBalancer = new aws.lb.LoadBalancer(
            `${name}-control-plane`,
            {
                loadBalancerType: "network",
                internal: true,
                subnetMappings: privateSubnetIds.map((subnetId, i) => ({ subnetId, privateIpv4Address: network.controlPlaneBalancerAddresses[i] })),
                securityGroups: [groups.get("control-plane-balancer")!.id],
                enableCrossZoneLoadBalancing: true,
                tags: tags("control-plane"),
            },
            res,
        );
        for (const p of controlPlanePorts(spec)) {
            const tg = new aws.lb.TargetGroup(
                `${name}-control-plane-${p.port}`,
                {
                    port: p.port,
                    protocol: "TCP",
                    targetType: "instance",
                    vpcId: this.vpcId,
                    // Without it a control-plane node that is also a client (api7-v3 hairpin) could be sent its own traffic and drop it.
                    preserveClientIp: "false",
                    deregistrationDelay: a.deregistrationDelaySeconds,
                    healthCheck: {
                        enabled: true,
                        protocol: "TCP",
                        port: "traffic-port",
                        interval: hc.intervalSeconds,
                        timeout: hc.timeoutSeconds,
                        healthyThreshold: hc.rise,
                        unhealthyThreshold: hc.fall,
                    },
                    tags: tags(`control-plane-${p.port}`),
                },
                res,
            );
            new aws.lb.Listener(`${name}-control-plane-${p.port}`, { loadBalancerArn: this.controlPlaneBalancer.arn, port: p.port, protocol: "TCP", defaultActions: [{ type: "forward", targetGroupArn: tg.arn }] }, res);
            for (const node of topology.byRole["control-plane"])
                new aws.lb.TargetGroupAttachment(`${name}-control-plane-${p.port}-${node.name}`, { targetGroupArn: tg.arn, targetId: this.nodes.get(node.name)!.instance.id, port: p.port }, res);
        }

        this.registerOutputs({ vpcId: this.vpcId, gatewayBalancerDnsName: this.gatewayBalancer.dnsName, controlPlaneBalancerDnsName: this.controlPlaneBalancer.dnsName });
    }

    entryPoints(): EntryPoints {
        const { spec } = this;
        const withPort = (port: number, standard: number) => (port === standard ? "" : `:${port}`);
        const gw = this.gatewayBalancer.dnsName;
        const cp = this.controlPlaneBalancer.dnsName;
        return {
            gatewayUrl: pulumi.interpolate`http://${gw}${withPort(spec.dataPlane.httpPort, 80)}`,
            gatewayHttpsUrl: pulumi.interpolate`https://${gw}${withPort(spec.dataPlane.httpsPort, 443)}`,
            controlPlaneUrl: cp.apply((host) => controlPlaneUrl(spec, host)),
            gatewayBalancerHost: gw,
            controlPlaneBalancerHost: cp,
        };
    }

    workloadRoles(role: WorkloadRole): { node: string; role: pulumi.Output<string> }[] {
        const roles = [...this.nodes.values()].filter((s) => s.node.roles.includes(role)).map((s) => ({ node: s.node.name, role: this.nodeRoles.get(s.node.name)!.name }));
        if (!roles.length) throw new Error(`AwsTarget: no node has the role ${role}`);
        return roles;
    }

    private state(node: TopologyNode, what: string): NodeState {
        if (this.completed) throw new Error(`AwsTarget: ${what} after complete(): node user data is already rendered`);
        const s = this.nodes.get(node.name);
        if (!s) throw new Error(`AwsTarget: ${what} on unknown node ${node.name}`);
        return s;
    }

    /** A SecureString parameter under the node's prefix; the value stays a Pulumi secret. */
    private parameter(node: string, key: string, value: pulumi.Input<string>, parent: pulumi.Resource | undefined, readAtBoot = true): pulumi.Output<string> {
        return this.parameterResource(node, key, value, parent, readAtBoot).name;
    }

    private parameterPath(node: string, key: string): string {
        return `${parameterPrefix(this.spec, node)}/${key}`.replace(/[^A-Za-z0-9_.\-/]/g, "_");
    }

    private parameterResource(node: string, key: string, value: pulumi.Input<string>, parent: pulumi.Resource | undefined, readAtBoot: boolean): aws.ssm.Parameter {
        const path = this.parameterPath(node, key);
        const parameter = new aws.ssm.Parameter(
            `${this.spec.namePrefix}${slug(path.slice(`/gateway-ha/${this.spec.instance}/`.length))}`,
            // Intelligent-Tiering: standard (free) up to 4 KB, advanced only for larger files.
            { name: path, type: "SecureString", keyId: this.parameterKey.arn, tier: "Intelligent-Tiering", value: pulumi.secret(value), tags: { [TAGS.node]: node } },
            { parent: parent ?? this, provider: this.provider },
        );
        // Only what the boot reads restarts the node when it changes.
        if (readAtBoot) this.nodes.get(node)!.parameterVersions.push(parameter.version);
        return parameter;
    }

    deployService(declared: ServiceSpec, opts: pulumi.CustomResourceOptions): DeployedService {
        const svc = withSecretEnvFiles(declared);
        const s = this.state(svc.node, `deployService(${svc.name})`);
        // Only LVS real servers need them, and VPCs carry no VIPs (refused in validation).
        if (svc.sysctls && Object.keys(svc.sysctls).length) throw new Error(`AwsTarget: ${svc.name} needs kernel parameters, which target aws does not set`);
        // Components' dependsOn is not applied: a node's services share one instance, so it would point
        // at the instance itself (compact layout); the services retry until their peers are up. Only
        // where the service's own steps establish its health (waitHealthy false: an etcd member) is it
        // what the node waits for, as its gate only sees the member run. What depends on the service
        // waits for its node's gate: booted, the service running (healthy).
        if (svc.waitHealthy === false) s.waitFor.push(...dependsOnList(opts.dependsOn).filter((r): r is pulumi.Resource => pulumi.Resource.isInstance(r)));
        const parent = opts.parent;
        const res = { parent: parent ?? this, provider: this.provider };
        const files = svc.files.map((f): pulumi.Output<NodeService["files"][number]> => {
            if (f.secret)
                return pulumi
                    .output(this.parameter(svc.node.name, `${svc.service}/files${f.path}`, f.content, parent))
                    .apply((parameter) => ({ path: f.path, parameter, ...(svc.user ? { owner: svc.user === FROM_IMAGE ? OWNER_FROM_IMAGE : `${svc.user.uid}:${svc.user.gid}` } : {}) }));
            s.plainContents.push({ where: `${svc.name} ${f.path}`, content: f.content });
            return pulumi.output(f.content).apply((content) => ({ path: f.path, content, ...(f.systemRoots ? { systemRoots: true } : {}) }));
        });
        // Every env value is treated as secret: components pass credentials there.
        const env = Object.entries(svc.env ?? {}).map(([k, v]) => this.parameter(svc.node.name, `${svc.service}/env/${k}`, v, parent).apply((parameter) => ({ name: k, parameter })));
        const volumes = (svc.volumes ?? []).map((v, i) => {
            if (i >= DATA_DEVICES.length) throw new Error(`AwsTarget: ${svc.name} has more than ${DATA_DEVICES.length} volumes`);
            const volume = new aws.ebs.Volume(
                `${this.spec.namePrefix}${v.name}`,
                {
                    availabilityZone: this.zoneNames.apply((z) => z[svc.node.zone!]),
                    size: this.spec.aws.dataVolumeGb,
                    type: "gp3",
                    encrypted: true,
                    tags: { Name: `${this.spec.instance}-${v.name}`, [TAGS.stack]: this.spec.instance, [TAGS.node]: svc.node.name, ...this.spec.aws.tags },
                },
                // Replacing the instance leaves it (only the attachment goes); a destroy fails until
                // protectData is off, and then deletes it (a kept volume would meet new passwords).
                { ...res, protect: this.spec.protectData },
            );
            new aws.ec2.VolumeAttachment(
                `${this.spec.namePrefix}${v.name}`,
                { deviceName: DATA_DEVICES[i], volumeId: volume.id, instanceId: s.instance.id, stopInstanceBeforeDetaching: true },
                // A replaced instance gets the volume after the old one let go of it.
                { ...res, deleteBeforeReplace: true },
            );
            return volume.id.apply((volumeId) => ({ name: v.name, containerPath: v.containerPath, volumeId }));
        });
        const command = pulumi.output(svc.command) as pulumi.Output<string[] | undefined>;
        s.services.push(
            pulumi.all([pulumi.all(files), pulumi.all(env), pulumi.all(volumes), command]).apply(([f, e, vol, cmd]): NodeService => ({
                name: svc.name,
                image: svc.image,
                ...(svc.entrypoint ? { entrypoint: svc.entrypoint } : {}),
                command: cmd,
                env: e,
                files: f,
                volumes: vol,
                healthCheck: svc.healthCheck,
                labels: { ...serviceLabels(this.spec.instance, svc), ...(svc.waitHealthy === false ? { [LABELS.wait]: "running" } : {}) },
            })),
        );
        return { spec: svc, resource: s.gate };
    }

    /** The task runs on its service's node at every boot, after the services start; it returns that node's instance. */
    runTask(task: TaskSpec, opts: pulumi.CustomResourceOptions): pulumi.CustomResource {
        const s = this.state(task.runIn.node, `runTask(${task.name})`);
        const env = Object.entries(task.env).map(([k, v]) => this.parameter(task.runIn.node.name, `tasks/${task.name}/env/${k}`, v, opts.parent).apply((parameter) => ({ name: k, parameter })));
        s.tasks.push(
            pulumi.all(env).apply((e) => ({ name: task.name, container: task.runIn.name, toolArgv: task.toolArgv, toolEnv: task.toolEnv, script: task.script, env: e })),
        );
        return s.instance;
    }

    /**
     * A step on the deployer that runs on the first of `runInAny`'s instances whose container is
     * running, through SSM Run Command (render/awsStep.ts), found by its tags when the step runs: no
     * instance ID is an input, so a member's join step does not wait for its own instance. Its secret
     * variables go to a parameter per node, which only that node's instance reads; a plain variable
     * holding a secret would travel in the command, and is refused.
     */
    runStep(step: StepSpec, opts: pulumi.CustomResourceOptions): StepResult {
        const secret = new Set(step.secretEnv ?? []);
        const candidates = step.runInAny.map((svc) => {
            this.state(svc.node, `runStep(${step.name})`);
            return {
                node: svc.node.name,
                container: svc.name,
                secretParameters: Object.fromEntries([...secret].map((name) => [name, this.stepParameter(svc.node.name, name, step.env[name], opts.parent)])),
            };
        });
        const parameters = [...secret].flatMap((name) => step.runInAny.map((svc) => this.stepParameters.get(`${svc.node.name}/${name}`)!.parameter));
        const plainEnv = Object.keys(step.env).filter((k) => !secret.has(k));
        const env = pulumi
            .output(Promise.all(plainEnv.map(async (k) => ((await pulumi.isSecret(pulumi.output(step.env[k]))) ? k : undefined))))
            .apply((leaks) => {
                const bad = leaks.filter((k): k is string => k !== undefined);
                if (bad.length) throw new Error(`AwsTarget: step ${step.name}: ${bad.join(", ")} holds a Pulumi secret but is not in secretEnv; it would be sent in the SSM command`);
                return step.env;
            });
        const { spec } = this;
        const wrap = (script: string) =>
            renderAwsStepScript({
                comment: `gateway-ha ${step.name}`,
                region: spec.aws.region,
                tags: { stack: [TAGS.stack, spec.instance], node: TAGS.node },
                candidates,
                toolArgv: step.toolArgv,
                toolEnv: step.toolEnv,
                plainEnv,
                script,
                runSeconds: STEP_RUN_SECONDS,
                reachTimeoutSeconds: STEP_REACH_TIMEOUT_SECONDS,
                pollSeconds: STEP_POLL_SECONDS,
            });
        const cmd = deployerStep(`${this.spec.namePrefix}${step.name}`, step, wrap, env, { ...opts, dependsOn: [...dependsOnList(opts.dependsOn), ...parameters] });
        return { resource: cmd, stdout: cmd.stdout };
    }

    /** The node's parameter of a step's secret variable: one per node and name, so every step of a member set shares it. */
    private stepParameter(node: string, name: string, value: pulumi.Input<string> | undefined, parent: pulumi.Resource | undefined): string {
        if (value === undefined) throw new Error(`AwsTarget: secretEnv names ${name}, which the step's env does not set`);
        const key = `${node}/${name}`;
        const known = this.stepParameters.get(key);
        if (known && known.value !== value) throw new Error(`AwsTarget: two steps give ${name} different values; a node holds one parameter per secret variable`);
        if (!known) this.stepParameters.set(key, { value, parameter: this.parameterResource(node, `steps/env/${name}`, value, parent, false) });
        return this.parameterPath(node, `steps/env/${name}`);
    }

    /** Renders each node's user data from what the components handed over. */
    complete(): void {
        if (this.completed) throw new Error("AwsTarget: complete() called twice");
        this.completed = true;
        for (const s of this.nodes.values()) {
            // A secret in a file not marked secret would land in user data: refuse it.
            const leaks = Promise.all(s.plainContents.map(async (p) => ((await pulumi.isSecret(pulumi.output(p.content))) ? p.where : undefined)));
            // The versions (not the values) of the secrets the node reads: a rotated secret changes
            // them, so the node restarts (in its role's order, gated) and fetches it.
            const secretsVersion = pulumi.all(s.parameterVersions).apply((v) => createHash("sha256").update(v.join(",")).digest("hex").slice(0, 12));
            s.resolveUserData(
                // The URNs carry the dependencies only: the instance is registered once they are done.
                pulumi.all([pulumi.all(s.services), pulumi.all(s.tasks), leaks, secretsVersion, pulumi.all(s.waitFor.map((r) => r.urn))]).apply(([services, tasks, secretFiles, secrets]) => {
                    const bad = secretFiles.filter((w): w is string => w !== undefined);
                    if (bad.length) throw new Error(`node ${s.node.name}: ${bad.join(", ")} holds a Pulumi secret but is not marked secret; it would be in user data`);
                    const boot: NodeBoot = { node: s.node.name, region: this.spec.aws.region, cpus: s.node.cpus, memoryGb: s.node.memoryGb, services, tasks, secretsVersion: secrets };
                    return checkUserDataSize(s.node.name, renderCloudConfig(boot));
                }),
            );
        }
    }
}
