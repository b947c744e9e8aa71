// Function App on Flex Consumption, Python 3.11, running as the user-assigned identity.
// Every connection is identity-based (`__accountName`, `__accountEndpoint`, `__credential`,
// `__clientId`); no setting holds a key.
param name string
param planName string
param location string
param tags object
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param appInsightsConnectionString string
@description('Application settings of the pipeline (see README: Configuration).')
param appSettings object
param maximumInstanceCount int = 40
param instanceMemoryMB int = 2048
@description('Instances kept always ready: [{ name: \'function:<name>\' or \'http\', instanceCount }].')
param alwaysReady array = []
@description('Require Entra ID sign-in (App Service authentication) for the dashboard and the read API.')
param signIn bool = false
@description('Client id of the Entra ID app registration used for sign-in.')
param signInClientId string = ''

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

var hostSettings = {
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  AzureWebJobsFeatureFlags: 'EnableWorkerIndexing'
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: 'https://${storageAccountName}.blob.${environment().suffixes.storage}/${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        alwaysReady: alwaysReady
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(hostSettings, appSettings)
}

// Sign-in with Entra ID, off by default. Devices (POST /api/readings, function key) and the
// availability test (/api/health) stay outside it; /api/deadletter keeps its function key.
// Without a client secret App Service authentication uses the ID-token flow: no secret to keep.
resource auth 'Microsoft.Web/sites/config@2024-04-01' = if (signIn) {
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'RedirectToLoginPage'
      redirectToProvider: 'azureactivedirectory'
      excludedPaths: [
        '/api/readings'
        '/api/health'
        '/api/deadletter'
      ]
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: signInClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            'api://${signInClientId}'
            signInClientId
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: true
      }
    }
  }
}

output name string = site.name
output uri string = 'https://${site.properties.defaultHostName}'
