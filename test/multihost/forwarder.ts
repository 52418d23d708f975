// Entry point: the relays of FORWARD_SPECS (JSON ForwardSpec[]) in whichever namespace this runs,
// until a signal. Started with startService, so it announces itself with one JSON line.
import { forward, type ForwardSpec } from './forward.ts';

await forward(JSON.parse(process.env.FORWARD_SPECS ?? '[]') as ForwardSpec[]);
process.stdout.write(`${JSON.stringify({ msg: 'forwarding' })}\n`);
process.once('SIGTERM', () => process.exit(0));
