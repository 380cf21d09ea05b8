import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { readConfig } from './config.js';
import { HomeboundStack } from './homebound-stack.js';

// One stack per cdk invocation: deploy another account or Region with other `-c homebound:…` values.
const app = new App();
const config = readConfig((key) => app.node.tryGetContext(key));
const account = config.account ?? process.env.CDK_DEFAULT_ACCOUNT;
const region = config.region ?? process.env.CDK_DEFAULT_REGION;
new HomeboundStack(app, config.stackName, {
  config,
  ...(account && region ? { env: { account, region } } : {}),
  description: 'homebound: failback from AWS takeover hosts, block by block',
});
// Findings print at synth; the tests fail on any that is not suppressed with a reason.
Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
Aspects.of(app).add(new ServerlessChecks({ verbose: true }));
app.synth();
