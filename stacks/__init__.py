"""CDK stacks: they only declare. One PlatformStack per account+region, one EndpointStack per
environment."""
