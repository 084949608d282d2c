// Before the first `up` with stable node addresses: which nodes of a stack the new rule would move
// (stacks deployed with other than 3 etcd members, 2 control-plane nodes and 2 gateways), and the
// `nodes` entries that keep them where they are. Nothing is changed; paste the output.
//
//   npm run --silent addresses:pin -- --stack NAME [--config-file FILE] [--set KEY=VALUE]...
import { stringify } from "yaml";
import { awsNetworkPlan } from "../components/topology/network";
import { addressMoves, assignZones, placeRoles } from "../components/topology/layouts";
import { parseArgs, previewPlatform, UsageError } from "./preview-offline";

export function pinAddresses(argv: string[]): string {
    const args = parseArgs(argv);
    const { project, platform } = previewPlatform(args);
    const { spec } = platform;
    const network = spec.target === "aws" ? awsNetworkPlan(spec) : undefined;
    const zones = network ? { of: assignZones(placeRoles(spec), network.zoneCount), count: network.zoneCount } : undefined;
    const moves = addressMoves(spec, zones).filter((m) => m.before);
    if (moves.length === 0) return `stack ${args.stack}: no node moves; nothing to pin\n`;
    const nodes = spec.nodes.map((n) => ({ ...n }));
    for (const m of moves) {
        const entry = nodes.find((n) => n.name === m.name);
        if (entry) entry.address = m.before;
        else nodes.push({ name: m.name, address: m.before! } as (typeof nodes)[number]);
    }
    const lines = moves.map((m) => `#   ${m.name}: ${m.before} (would move to ${m.now ?? "no address"})`);
    return [
        `# stack ${args.stack}: ${moves.length} node(s) keep their address only if pinned:`,
        ...lines,
        `# Put this under \`config:\` in the stack file (it replaces any ${project}:nodes there), then preview:`,
        stringify({ [`${project}:nodes`]: nodes.map((n) => Object.fromEntries(Object.entries(n).filter(([, v]) => v !== undefined))) }).trimEnd(),
        "",
    ].join("\n");
}

if (require.main === module) {
    try {
        process.stdout.write(pinAddresses(process.argv.slice(2)));
    } catch (e) {
        process.stderr.write(`${e instanceof UsageError ? "usage: " : ""}${e instanceof Error ? e.message : String(e)}\n`);
        process.exit(2);
    }
}
