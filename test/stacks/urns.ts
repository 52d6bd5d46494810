import { parseNotificationsConfig } from '../../stacks/config';
import { timebox } from '../../stacks/program';
import {
  configDummy,
  fakeBundles,
  type MockWorld,
  POLICY_YAML,
  projectWithPolicy,
  type Recorded,
  resolveAll,
  SPOKE_ACCOUNT,
} from './helpers/pulumi-mocks';

/** Runs the hub program with every optional part configured (spokes, alarm email, Slack, webhooks). */
export async function everything(world: MockWorld): Promise<Recorded[]> {
  world.reset();
  const out = await timebox({
    config: configDummy({ spokeAccounts: JSON.stringify([SPOKE_ACCOUNT]), alarmEmail: 'ops@corp.com' }),
    projectDir: projectWithPolicy(POLICY_YAML),
    distDir: fakeBundles(['api', 'revoke', 'sweeper', 'notifier', 'slack']),
    notifications: parseNotificationsConfig({
      slack: JSON.stringify({ channel: 'C0APPROVALS', teamId: 'T0ACME' }),
      signedWebhooks: 'true',
      apiDestinations: JSON.stringify([{ name: 'siem', url: 'https://siem.example.com/timebox' }]),
    }),
  });
  await resolveAll(out);
  await world.settle();
  return [...world.resources];
}
