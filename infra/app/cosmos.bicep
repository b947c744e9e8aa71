// Cosmos DB for NoSQL: key authentication disabled, TLS 1.2, serverless by default.
param name string
param location string
param tags object
param databaseName string
@description('Each: { name, partitionKey, ttl (-1: no expiry), includedPaths (the only paths indexed; empty: every path), excludedPaths (not indexed) }.')
param containers array
param serverless bool = true
param autoscaleMaxThroughput int = 1000

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    disableLocalAuth: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    capabilities: serverless ? [
      {
        name: 'EnableServerless'
      }
    ] : []
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
    options: serverless ? {} : {
      autoscaleSettings: {
        maxThroughput: autoscaleMaxThroughput
      }
    }
  }
}

resource sqlContainers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = [for container in containers: {
  parent: database
  name: container.name
  properties: {
    resource: {
      id: container.name
      partitionKey: {
        paths: [
          container.partitionKey
        ]
        kind: 'Hash'
      }
      defaultTtl: container.ttl
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        // With included paths given, the root is excluded: only they are indexed.
        includedPaths: empty(container.includedPaths) ? [
          {
            path: '/*'
          }
        ] : container.includedPaths
        excludedPaths: union(container.excludedPaths, [
          {
            path: '/"_etag"/?'
          }
        ], empty(container.includedPaths) ? [] : [
          {
            path: '/*'
          }
        ])
      }
    }
  }
}]

output name string = account.name
output endpoint string = account.properties.documentEndpoint
