// Alerts: who is told (an action group, only when an email is given) and when — the
// summariser failing or giving up batches, feed lag, dead letters, and the dashboard
// down (a standard availability test on /api/health). Metric, function and log names
// come from pipeline/telemetry_names.json, the file the code emits them from.
param appInsightsName string
param location string
param tags object
@description('Base URL of the Function App, e.g. https://func-x.azurewebsites.net.')
param appUri string
@description('Where alerts are emailed; empty: the rules exist and fire, but notify no one.')
param alertEmail string = ''
@description('false provisions every rule disabled (silenced).')
param alertsEnabled bool = true
// Log alert windows take only these sizes.
@allowed([
  5
  10
  15
  30
  45
  60
])
@description('Minutes the summariser must fail with no successful batch before alerting.')
param summariserFailingMinutes int = 15
@description('Feed lag (seconds, age of the oldest change of a summarised batch, from its write time) that counts as behind.')
param feedLagThresholdSeconds int = 120
@allowed([
  5
  10
  15
  30
  45
  60
])
@description('Minutes every summarised batch must stay behind the threshold before alerting.')
param feedLagMinutes int = 10
@minValue(0)
@description('Dead letters within the window that fire the alert (0: the first one).')
param deadLetterThreshold int = 0
@allowed([
  5
  15
  30
  60
])
@description('Minutes of failing availability checks before the dashboard counts as down.')
param dashboardDownMinutes int = 5
// At most the number of locations healthTest probes from (3): more could never fire.
@minValue(1)
@maxValue(3)
@description('Availability test locations that must fail at once.')
param failedLocationCount int = 2

var telemetry = loadJsonContent('../../pipeline/telemetry_names.json')

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: 'ag-${appInsightsName}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'sensors'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var logActions = empty(alertEmail) ? {} : {
  actionGroups: [
    actionGroup.id
  ]
}

// The log-based rules: name, severity, window (minutes), KQL returning one row per breach.
var logRules = [
  {
    name: 'summariser-failing'
    description: 'The summariser failed (exceptions, retries) for ${summariserFailingMinutes} minutes without one successful batch.'
    severity: 1
    minutes: summariserFailingMinutes
    query: 'requests | where operation_Name == "${telemetry.functions.summariser}" | summarize failed = countif(success == false), succeeded = countif(success == true) | where failed > 0 and succeeded == 0'
  }
  {
    name: 'summariser-gave-up'
    description: 'The summariser exhausted its retries and skipped a batch (replay it: docs/operations.md, Replaying summaries).'
    severity: 1
    minutes: 5
    query: 'traces | where message startswith "${telemetry.logs.batch_given_up}"'
  }
  {
    name: 'feed-lag'
    description: 'Every summarised batch for ${feedLagMinutes} minutes was more than ${feedLagThresholdSeconds} s behind.'
    severity: 2
    minutes: feedLagMinutes
    query: 'customMetrics | where name == "${telemetry.metrics.feed_lag}" | summarize lowest = min(valueMin), batches = sum(valueCount) | where batches > 0 and lowest > ${feedLagThresholdSeconds}'
  }
  {
    name: 'dead-letters'
    description: 'More than ${deadLetterThreshold} readings were dead-lettered (GET /api/deadletter lists them).'
    severity: 3
    minutes: 5
    query: 'customMetrics | where name == "${telemetry.metrics.dead_letters}" | summarize total = sum(value) | where total > ${deadLetterThreshold}'
  }
]

resource logAlerts 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = [for rule in logRules: {
  name: '${rule.name}-${appInsightsName}'
  location: location
  tags: tags
  properties: {
    displayName: rule.name
    description: rule.description
    severity: rule.severity
    enabled: alertsEnabled
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT${rule.minutes}M'
    criteria: {
      allOf: [
        {
          query: rule.query
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: logActions
  }
}]

resource healthTest 'Microsoft.Insights/webtests@2022-06-15' = {
  name: 'health-${appInsightsName}'
  location: location
  // Ties the test to its Application Insights resource (required by the portal and alerts).
  tags: union(tags, {
    'hidden-link:${appInsights.id}': 'Resource'
  })
  kind: 'standard'
  properties: {
    SyntheticMonitorId: 'health-${appInsightsName}'
    Name: 'dashboard health'
    Enabled: alertsEnabled
    Kind: 'standard'
    Frequency: 300
    Timeout: 30
    RetryEnabled: true
    Locations: [
      {
        Id: 'us-va-ash-azr'
      }
      {
        Id: 'emea-nl-ams-azr'
      }
      {
        Id: 'apac-sg-sin-azr'
      }
    ]
    Request: {
      RequestUrl: '${appUri}${telemetry.health_path}'
      HttpVerb: 'GET'
      ParseDependentRequests: false
    }
    ValidationRules: {
      ExpectedHttpStatusCode: 200
      SSLCheck: true
      SSLCertRemainingLifetimeCheck: 7
    }
  }
}

resource dashboardDown 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'dashboard-down-${appInsightsName}'
  location: 'global'
  tags: tags
  properties: {
    description: '/api/health failed from ${failedLocationCount} locations for ${dashboardDownMinutes} minutes (down, store unreachable or feed lagging).'
    severity: 1
    enabled: alertsEnabled
    scopes: [
      healthTest.id
      appInsights.id
    ]
    evaluationFrequency: 'PT1M'
    windowSize: 'PT${dashboardDownMinutes}M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria'
      webTestId: healthTest.id
      componentId: appInsights.id
      failedLocationCount: failedLocationCount
    }
    actions: empty(alertEmail) ? [] : [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

output ruleNames array = [for (rule, i) in logRules: logAlerts[i].name]
