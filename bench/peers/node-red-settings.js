// Node-RED settings for bench/peers.sh: loopback only, no editor or admin API, warnings only,
// no telemetry. The flow file and the port come from the command line and the environment.
module.exports = {
    uiHost: "127.0.0.1",
    uiPort: Number(process.env.PORT) || 1880,
    flowFile: process.env.PEERS_NODE_RED_FLOW,
    // No editor and no admin API: the runtime only serves the flow's `http in` node.
    httpAdminRoot: false,
    diagnostics: { enabled: false, ui: false },
    runtimeState: { enabled: false, ui: false },
    telemetry: { enabled: false, updateNotification: false },
    // The flow has no credentials; this keeps Node-RED from making and announcing a key for them.
    credentialSecret: false,
    logging: { console: { level: "warn", metrics: false, audit: false } },
    functionExternalModules: false,
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
    exportGlobalContextKeys: false,
};
