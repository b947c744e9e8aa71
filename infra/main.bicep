// sensor-pipeline: Function App (Flex Consumption, Python 3.11) + Cosmos DB for NoSQL,
// connected by a user-assigned managed identity. No keys anywhere: Cosmos DB and the
// storage account have local (key) authentication disabled.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; used to name every resource.')
param environmentName string

@minLength(1)
@description('Azure region for all resources.')
param location string

@description('Cosmos DB capacity: serverless (pay per request) or provisioned autoscale.')
@allowed([
  'serverless'
  'autoscale'
])
param cosmosCapacity string = 'serverless'

@description('Autoscale maximum RU/s for the database (only with cosmosCapacity = autoscale); it scales 10-100% of this.')
@minValue(1000)
param cosmosAutoscaleMaxThroughput int = 1000

@description('Summariser instances kept always ready (Flex Consumption alwaysReady, function:summarise_readings); 0 lets it scale to zero.')
@minValue(0)
@maxValue(10)
param summariserAlwaysReady int = 1

@description('Instances of the HTTP functions (dashboard, API, ingest) kept always ready; 0 lets them scale to zero.')
@minValue(0)
@maxValue(10)
param httpAlwaysReady int = 0

@description('Require Entra ID sign-in (App Service authentication) for the dashboard and read API.')
param dashboardSignIn bool = false

@description('Client id of the Entra ID app registration used for sign-in (with dashboardSignIn).')
param signInClientId string = ''

@description('Seconds a reading is kept in the readings container (-1: forever). READINGS_TTL_SECONDS locally.')
param readingsTtlSeconds int = 2592000

@description('Seconds a summary is kept after its last write (-1: forever); the latest pointers never expire.')
param summariesTtlSeconds int = 2592000

@description('Seconds a time window (rollup) is kept after its last write (-1: forever); at least readingsTtlSeconds.')
param rollupsTtlSeconds int = 7776000

@description('Object id of the deploying user, granted Cosmos DB data access for local runs; empty to skip.')
param principalId string = ''

@description('Simulated sensors.')
param sensorCount int = 5

@description('Run the simulated generator (the demo). false sets AzureWebJobs.generate_readings.Disabled; see README for its cost.')
param generatorEnabled bool = true

@description('Email that alerts are sent to; empty: rules still fire in the portal but notify no one.')
param alertEmail string = ''

@description('false provisions every alert rule and the availability test disabled.')
param alertsEnabled bool = true

// The alert thresholds: the same names, defaults and limits as infra/app/alerts.bicep, each
// set from an azd environment value in main.parameters.json (tests/test_infra.py checks all three).
@description('Feed lag (seconds) above which the feed-lag alert counts a batch as behind; also the health limit.')
param feedLagThresholdSeconds int = 120

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

@allowed([
  5
  10
  15
  30
  45
  60
])
@description('Minutes every summarised batch must stay behind the feed-lag threshold before alerting.')
param feedLagMinutes int = 10

@minValue(0)
@description('Dead letters within 5 minutes that fire the alert (0: the first one).')
param deadLetterThreshold int = 0

@allowed([
  5
  15
  30
  60
])
@description('Minutes of failing availability checks before the dashboard counts as down.')
param dashboardDownMinutes int = 5

@minValue(1)
@maxValue(3)
@description('Availability test locations (of 3) that must fail at once for the dashboard to count as down.')
param failedLocationCount int = 2

@description('Create Azure App Configuration for live settings (read with the managed identity).')
param appConfiguration bool = false

@description('Seconds between checks of App Configuration for changed live settings.')
// The app refuses more than a day (LIVE_SETTINGS_REFRESH_SECONDS), so azd does too.
@minValue(1)
@maxValue(86400)
param liveSettingsRefreshSeconds int = 60

// The one place in the infrastructure where database, containers, partition keys and
// setting names are written; tests/test_infra.py checks they match pipeline/names.py.
var pipeline = {
  database: 'sensor-pipeline'
  containers: [
    {
      name: 'readings'
      partitionKey: '/sensor_id'
      ttl: readingsTtlSeconds
      // Only what the queries filter and sort on (id and _ts are always indexed): every
      // indexed value adds to each write's charge. The same paths as pipeline/names.py.
      includedPaths: [
        {
          path: '/sensor_id/?'
        }
        {
          path: '/timestamp/?'
        }
      ]
      excludedPaths: []
    }
    {
      name: 'summaries'
      partitionKey: '/sensor_id'
      ttl: summariesTtlSeconds
      includedPaths: [
        {
          path: '/sensor_id/?'
        }
        {
          path: '/timestamp/?'
        }
      ]
      // The window kept in each sensor's pointer document is never queried: indexing it
      // would only add RU to every pointer write.
      excludedPaths: [
        {
          path: '/window/*'
        }
      ]
    }
    {
      name: 'leases'
      partitionKey: '/id'
      ttl: -1
      includedPaths: [] // the change-feed processor's: Cosmos DB's default (every path)
      excludedPaths: []
    }
    {
      name: 'deadletter'
      partitionKey: '/id'
      ttl: -1
      includedPaths: [
        {
          path: '/received_at/?'
        }
      ]
      excludedPaths: [
        {
          path: '/payload/?'
        }
      ]
    }
    {
      // Time windows (docs/rollups.md): their own container, default TTL, and indexing.
      name: 'rollups'
      partitionKey: '/sensor_id'
      ttl: rollupsTtlSeconds
      // The window query: one sensor, a range of ids (they hold bucket size and start; id is
      // always indexed). Every other path is left out by the excluded root.
      includedPaths: [
        {
          path: '/sensor_id/?'
        }
      ]
      excludedPaths: []
    }
  ]
}

var token = toLower(uniqueString(subscription().id, environmentName, location))
// Flex Consumption keeps these warm (billed while idle at the always-ready rate, docs/costs.md):
// the summariser by name, so a reading after an idle hour skips a cold start; the HTTP group on request.
var alwaysReady = concat(
  summariserAlwaysReady > 0 ? [
    {
      name: 'function:summarise_readings'
      instanceCount: summariserAlwaysReady
    }
  ] : [],
  httpAlwaysReady > 0 ? [
    {
      name: 'http'
      instanceCount: httpAlwaysReady
    }
  ] : []
)
var tags = {
  'azd-env-name': environmentName
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-${token}'
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${token}'
    appInsightsName: 'appi-${token}'
    location: location
    tags: tags
    publisherPrincipalId: identity.outputs.principalId
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${token}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module cosmos 'app/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    name: 'cosmos-${token}'
    location: location
    tags: tags
    databaseName: pipeline.database
    containers: pipeline.containers
    serverless: cosmosCapacity == 'serverless'
    autoscaleMaxThroughput: cosmosAutoscaleMaxThroughput
  }
}

module cosmosAppAccess 'app/cosmos-rbac.bicep' = {
  name: 'cosmos-rbac-app'
  scope: rg
  params: {
    accountName: cosmos.outputs.name
    principalId: identity.outputs.principalId
  }
}

module cosmosUserAccess 'app/cosmos-rbac.bicep' = if (!empty(principalId)) {
  name: 'cosmos-rbac-user'
  scope: rg
  params: {
    accountName: cosmos.outputs.name
    principalId: principalId
  }
}

module appConfig 'app/appconfig.bicep' = if (appConfiguration) {
  name: 'appconfig'
  scope: rg
  params: {
    name: 'appcs-${token}'
    location: location
    tags: tags
    readerPrincipalId: identity.outputs.principalId
    ownerPrincipalId: principalId
  }
}

module function 'app/function.bicep' = {
  name: 'function'
  scope: rg
  params: {
    name: 'func-${token}'
    planName: 'plan-${token}'
    location: location
    tags: union(tags, {
      'azd-service-name': 'api'
    })
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
    appInsightsConnectionString: monitoring.outputs.connectionString
    alwaysReady: alwaysReady
    signIn: dashboardSignIn
    signInClientId: signInClientId
    appSettings: {
      COSMOS_CONNECTION__accountEndpoint: cosmos.outputs.endpoint
      COSMOS_CONNECTION__credential: 'managedidentity'
      COSMOS_CONNECTION__clientId: identity.outputs.clientId
      COSMOS_DATABASE: pipeline.database
      READINGS_CONTAINER: pipeline.containers[0].name
      SUMMARIES_CONTAINER: pipeline.containers[1].name
      LEASES_CONTAINER: pipeline.containers[2].name
      DEADLETTER_CONTAINER: pipeline.containers[3].name
      CREATE_LEASE_CONTAINER: 'false'
      PIPELINE_STORE: 'cosmos'
      SENSOR_COUNT: string(sensorCount)
      WINDOW_SIZE: '10'
      GENERATOR_SCHEDULE: '*/10 * * * * *'
      DASHBOARD_POLL_SECONDS: '2'
      CHART_POINTS: '50'
      // The summaries container's TTL, from the one parameter that sets it: a chart extends the
      // history it drew only while TTL cannot have removed a summary it draws.
      SUMMARIES_TTL_SECONDS: string(summariesTtlSeconds)
      HEALTH_MAX_FEED_LAG_SECONDS: string(feedLagThresholdSeconds)
      // The change-feed trigger's tuning, read when the worker indexes the functions (docs/configuration.md).
      SUMMARISER_FEED_POLL_DELAY_MS: '1000'
      SUMMARISER_MAX_ITEMS_PER_INVOCATION: '1000'
      // The deploy-time switch of the simulated generator (the host skips a disabled function).
      'AzureWebJobs.generate_readings.Disabled': generatorEnabled ? 'false' : 'true'
      APP_CONFIGURATION_ENDPOINT: appConfiguration ? appConfig.outputs.endpoint : ''
      APP_CONFIGURATION_CLIENT_ID: identity.outputs.clientId
      LIVE_SETTINGS_REFRESH_SECONDS: string(liveSettingsRefreshSeconds)
    }
  }
  dependsOn: [
    cosmosAppAccess
  ]
}

module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    appInsightsName: monitoring.outputs.name
    location: location
    tags: tags
    appUri: function.outputs.uri
    alertEmail: alertEmail
    alertsEnabled: alertsEnabled
    feedLagThresholdSeconds: feedLagThresholdSeconds
    summariserFailingMinutes: summariserFailingMinutes
    feedLagMinutes: feedLagMinutes
    deadLetterThreshold: deadLetterThreshold
    dashboardDownMinutes: dashboardDownMinutes
    failedLocationCount: failedLocationCount
  }
}

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = function.outputs.name
output SERVICE_API_URI string = function.outputs.uri
output COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output COSMOS_DATABASE string = pipeline.database
