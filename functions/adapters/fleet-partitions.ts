/**
 * Fleet-wide partitions of the fleet table (docs/architecture.md, "Data model"): one name each,
 * for the writers (ingestion, analysis), the readers (queries) and the IAM conditions that scope
 * them (`dynamodb:LeadingKeys`).
 */

/** One entry per cohort (`<region>#<site>#<hardwareType>#<version>`), with its statistics. */
export const COHORTS_PARTITION = 'COHORTS';
/** One entry per device the analysis flagged as unlike its peers. */
export const ANOMALIES_PARTITION = 'ANOMALIES';
