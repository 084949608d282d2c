// The CA rotation's guard: a record step on the deployer that holds the phase deployed last
// (signing and trusted generations) and fails `pulumi up`, before any CA or certificate changes,
// when the next phase would strand a member or client (docs/day-2.md, "Rotating the CA").
import type { CaGenerations } from "../pki";

/** The step's environment variable: the phase this `up` deploys, as `caPhaseRecord` writes it. */
export const CA_PHASE_ENV = "GATEWAY_HA_CA_PHASE";

/** `signing=1 trusted=0,1` */
export const caPhaseRecord = (g: CaGenerations): string => `signing=${g.signing} trusted=${g.trusted.join(",")}`;

/**
 * Safe when every certificate the running platform presents stays trusted (the new trust holds
 * the previous signing CA) and every new certificate is trusted by what still runs (the previous
 * trust holds the new signing CA): services roll one at a time, old and new side by side.
 * The update reads the previous phase from its own previous stdout (the command provider's
 * PULUMI_COMMAND_STDOUT).
 */
export function renderCaPhaseScript(): string {
    return `set -eu
now="$${CA_PHASE_ENV}"
prev="$(printf '%s\\n' "\${PULUMI_COMMAND_STDOUT:-}" | grep -v '^$' | tail -n 1)"
field() { printf '%s\\n' "$1" | tr ' ' '\\n' | sed -n "s/^$2=//p"; }
if [ -n "$prev" ]; then
    ps=$(field "$prev" signing); pt=$(field "$prev" trusted)
    ns=$(field "$now" signing); nt=$(field "$now" trusted)
    case ",$pt," in
    *",$ns,"*) ;;
    *) echo "etcd.caGeneration: the running platform trusts CA generation(s) $pt only; signing with generation $ns would strand every member and client not yet restarted. First trust it too (etcd.caTrust=[$ps,$ns]) and run pulumi up; see docs/day-2.md, \\"Rotating the CA\\"." >&2; exit 1 ;;
    esac
    case ",$nt," in
    *",$ps,"*) ;;
    *) echo "etcd.caTrust: the running platform's certificates are signed by CA generation $ps; trusting $nt only would refuse them until each is replaced. Sign with the new CA first (etcd.caGeneration), keeping both trusted; see docs/day-2.md, \\"Rotating the CA\\"." >&2; exit 1 ;;
    esac
fi
printf '%s\\n' "$now"
`;
}
