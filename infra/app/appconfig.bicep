// Azure App Configuration for live settings: keys are setting names (CHART_POINTS, ...),
// read by the app with its managed identity ("App Configuration Data Reader"); no access
// keys (disableLocalAuth). The deploying user, when known, may edit values
// ("App Configuration Data Owner") with `az appconfig kv set --auth-mode login`.
param name string
param location string
param tags object
@description('Principal id of the app identity (reads values).')
param readerPrincipalId string
@description('Object id of the deploying user (edits values); empty to skip.')
param ownerPrincipalId string = ''
@description('free: 1,000 requests a day, one store per subscription; standard: no daily quota.')
@allowed([
  'free'
  'standard'
])
param sku string = 'free'

var dataReader = '516239f1-63e1-4d78-a4de-a74fb236a071'
var dataOwner = '5ae67dd6-50cb-40e7-96ff-dc2bfa4b606b'

resource store 'Microsoft.AppConfiguration/configurationStores@2024-05-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
  }
  properties: {
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(store.id, readerPrincipalId, dataReader)
  scope: store
  properties: {
    principalId: readerPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataReader)
  }
}

resource owner 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(ownerPrincipalId)) {
  name: guid(store.id, ownerPrincipalId, dataOwner)
  scope: store
  properties: {
    principalId: ownerPrincipalId
    principalType: 'User'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataOwner)
  }
}

output endpoint string = store.properties.endpoint
output name string = store.name
