"""IAM: the actions moto's IAM lacks that clients call (`simulate`: SimulatePrincipalPolicy)."""
