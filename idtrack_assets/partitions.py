"""Dynamic partitions: Ensembl releases and studies (keys added by the sensors)."""

import dagster as dg

releases_partitions = dg.DynamicPartitionsDefinition(name="ensembl_releases")
studies_partitions = dg.DynamicPartitionsDefinition(name="studies")
