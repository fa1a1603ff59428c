"""Feed-forward style and texture networks: Johnson et al., Ulyanov et al., AdaIN."""
