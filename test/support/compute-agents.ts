/**
 * Several compute agents in ONE process (tests and benches on a small machine): one
 * createComputeAgentService per name in AGENT_HOSTS, each with its own bus and cache
 * connections, configured from this process's environment with HOST_NAME set per agent.
 * On test:///default each agent sees only the guests it spawned (docs/compute.md), so they
 * behave as separate hypervisors. AGENT_OVERRIDES (JSON, {host: {VAR: value}}) sets variables for
 * one agent only, e.g. its inventory. GET http://BIND_HOST:LAUNCHER_PORT/readyz answers 200 once
 * every agent has started; SIGTERM stops them all.
 */
import { createServer } from 'node:http';
import { stopOnSignals } from '@strato/http';
import { createLogger } from '@strato/log';
import { createComputeAgentService, type ComputeAgentService } from '../../services/compute-agent/src/app';
import { loadComputeAgentConfig } from '../../services/compute-agent/src/config';

async function main(): Promise<void> {
  const hosts = (process.env.AGENT_HOSTS ?? '').split(',').filter(Boolean);
  if (hosts.length === 0) throw new Error('AGENT_HOSTS must name at least one host');
  const log = createLogger('compute-agents', { level: process.env.LOG_LEVEL ?? 'info' });
  const overrides = JSON.parse(process.env.AGENT_OVERRIDES ?? '{}') as Record<string, Record<string, string>>;
  const agents: ComputeAgentService[] = [];
  for (const host of hosts) {
    const config = loadComputeAgentConfig({
      ...process.env,
      ...overrides[host],
      HOST_NAME: host,
      COMPUTE_AGENT_PORT: '0',
    });
    agents.push(await createComputeAgentService(config, { log: log.child({ component: host }) }));
  }
  await Promise.all(agents.map((a) => a.start()));
  const probe = createServer((req, res) => {
    res.statusCode = req.url === '/readyz' || req.url === '/healthz' ? 200 : 404;
    res.end(JSON.stringify({ agents: agents.map((a) => ({ host: a.host, port: a.port() })) }));
  });
  await new Promise<void>((resolve) =>
    probe.listen(Number(process.env.LAUNCHER_PORT ?? 0), process.env.BIND_HOST ?? '127.0.0.1', resolve),
  );
  stopOnSignals(
    {
      async stop() {
        probe.close();
        await Promise.all(agents.map((a) => a.stop()));
      },
    },
    log,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(
    `compute agents failed to start: ${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exit(1);
});
