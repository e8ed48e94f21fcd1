"""IAM: moto's, plus SimulatePrincipalPolicy (which moto lacks) so the setup check's permission lines can be
tested against a good and a broken role."""
