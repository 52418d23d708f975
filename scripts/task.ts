// `npm run task -- <daily-digest [YYYY-MM-DD] | cleanup>`: an operator runs a recurring job now.
// It queues the job on the maintenance queue (the scheduler service runs it), waits for the
// outcome and prints it. Exit codes: 0 done, 1 failed, 2 still queued after --timeout seconds
// (is the scheduler running?), 64 bad usage.
import { createQueueClient, exitOnConfigError, isCalendarDate, loadMigrateConfig, maintenanceJobOptions, QueueUnavailableError, withRunningStack } from '@cheershare/shared';

const args = process.argv.slice(2);
const timeoutAt = args.indexOf('--timeout');
const timeoutSeconds = timeoutAt >= 0 ? Number(args.splice(timeoutAt, 2)[1]) : 60;
const [name, day] = args;
const usage = 'usage: npm run task -- daily-digest [YYYY-MM-DD] | cleanup  [--timeout seconds]';
if ((name !== 'daily-digest' && name !== 'cleanup') || (day !== undefined && (name !== 'daily-digest' || !isCalendarDate(day))) || args.length > 2 || !(timeoutSeconds > 0)) {
  process.stderr.write(`${usage}\n`);
  process.exit(64);
}

// With nothing configured, join the stack `npm start` runs from this checkout, if any.
const { env, joined } = withRunningStack(process.env);
if (joined) process.stdout.write(`using the embedded database of the running npm start (pid ${joined})\n`);
const config = exitOnConfigError(() => loadMigrateConfig(env));
const queues = createQueueClient(config.queue);
const maintenance = queues.producer('maintenance', maintenanceJobOptions());
const jobId = `manual-${name}-${Date.now()}`;
try {
  if (name === 'daily-digest') await maintenance.add('daily-digest', day ? { day } : {}, { jobId });
  else await maintenance.add('cleanup', {}, { jobId });
  process.stdout.write(`queued ${name} as job ${jobId} on ${queues.description}\n`);
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const job = await maintenance.getJob(jobId);
    const state = await job?.getState();
    if (state === 'completed') {
      process.stdout.write(`done: ${JSON.stringify(job?.returnvalue)}\n`);
      process.exitCode = 0;
      break;
    }
    if (state === 'failed') {
      process.stdout.write(`failed: ${job?.failedReason ?? 'unknown reason'}\n`);
      process.exitCode = 1;
      break;
    }
    if (Date.now() > deadline) {
      process.stdout.write(`still ${state ?? 'queued'} after ${timeoutSeconds} s: is the scheduler running? It will run the job when it is.\n`);
      process.exitCode = 2;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
} catch (err) {
  if (!(err instanceof QueueUnavailableError)) throw err;
  process.stderr.write(`could not queue ${name}: ${err.message}\nIs the stack running? With nothing configured, start it with npm start; otherwise set DATABASE_URL (and REDIS_URL) as the services have them.\n`);
  process.exitCode = 1;
} finally {
  await queues.close();
}
