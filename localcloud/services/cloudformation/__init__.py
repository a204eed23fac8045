"""CloudFormation: which resource types the cloud creates, records or refuses (`supported`, with
each resource's events: `events`), SageMaker resources made through the SageMaker API
(`sagemaker_resources`), updates, rollbacks and change sets as on AWS (`stacks`,
`change_sets`), roles' managed policies (`roles`), and the resource types moto's CloudFormation
lacks (`resources`, `autoscaling`, on the shape `resource_type` gives them)."""
