"""CloudFormation: SageMaker resources, updates, rollbacks and change sets as on AWS (`stacks`),
and the resource types moto's CloudFormation lacks (`resources`, `autoscaling`, on the shape
`resource_type` gives them)."""
