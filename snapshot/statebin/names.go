package statebin

import "fmt"

// consulTypeNames maps Consul's structs.MessageType to the names Consul's own
// `consul snapshot inspect` prints. Source: hashicorp/consul v1.22.7,
// agent/structs/structs.go (the MessageType constants and requestTypeStrings);
// the snapshot persisters in agent/consul/fsm/snapshot*.go write these bytes.
var consulTypeNames = map[byte]string{
	0:  "Register",
	1:  "Deregister",
	2:  "KVS",
	3:  "Session",
	4:  "ACL", // legacy ACLs, removed; old snapshots may still carry it
	5:  "Tombstone",
	6:  "CoordinateBatchUpdate",
	7:  "PreparedQuery",
	8:  "Txn",
	9:  "Autopilot",
	10: "Area",
	11: "ACLBootstrap",
	12: "Intention",
	13: "ConnectCA",
	14: "ConnectCAProviderState",
	15: "ConnectCAConfig",
	16: "Index",
	17: "ACLToken",
	18: "ACLTokenDelete",
	19: "ACLPolicy",
	20: "ACLPolicyDelete",
	21: "ConnectCALeaf",
	22: "ConfigEntry",
	23: "ACLRole",
	24: "ACLRoleDelete",
	25: "ACLBindingRule",
	26: "ACLBindingRuleDelete",
	27: "ACLAuthMethod",
	28: "ACLAuthMethodDelete",
	29: "ChunkingState",
	30: "FederationState",
	31: "SystemMetadata",
	32: "ServiceVirtualIP",
	33: "FreeVirtualIP",
	34: "KindServiceName",
	35: "Peering",
	36: "PeeringDelete",
	37: "PeeringTerminateByID",
	38: "PeeringTrustBundle",
	39: "PeeringTrustBundleDelete",
	40: "PeeringSecret",
	41: "RaftLogVerifierCheckpoint",
	42: "Resource",
	43: "UpdateManualVirtualIPRequestType",
	44: "Census",
}

// consulIgnoreUnknownFlag is Consul's structs.IgnoreUnknownTypeFlag: a type
// byte with this bit set may be skipped by a server that does not know it.
// Consul sets it on log entries (e.g. RaftLogVerifierCheckpoint|128); a
// snapshot may carry it too, so the name is looked up without the bit.
const consulIgnoreUnknownFlag = 128

// consulEnterpriseFloor is where Consul Enterprise types start; Consul CE
// refuses to restore them ("is a Consul Enterprise log entry").
const consulEnterpriseFloor = 64

// nomadTypeNames maps Nomad's SnapshotType to the names of Nomad's
// snapshotTypeStrings. Source: hashicorp/nomad v1.11.3, nomad/fsm.go.
// 5 (TimeTable), 8 (VaultAccessor) and 20 (EventSink) are deprecated but old
// snapshots still carry them.
var nomadTypeNames = map[byte]string{
	0:  "Node",
	1:  "Job",
	2:  "Index",
	3:  "Eval",
	4:  "Alloc",
	5:  "TimeTable",
	6:  "PeriodicLaunch",
	7:  "JobSummary",
	8:  "VaultAccessor",
	9:  "JobVersion",
	10: "Deployment",
	11: "ACLPolicy",
	12: "ACLToken",
	13: "SchedulerConfig",
	14: "ClusterMetadata",
	15: "ServiceIdentityTokenAccessor",
	16: "ScalingPolicy",
	17: "CSIPlugin",
	18: "CSIVolume",
	19: "ScalingEvents",
	20: "EventSink",
	21: "ServiceRegistration",
	22: "Variables",
	23: "VariablesQuota",
	24: "RootKeyMeta",
	25: "ACLRole",
	26: "ACLAuthMethod",
	27: "ACLBindingRule",
	28: "NodePool",
	29: "JobSubmission",
	30: "WrappedRootKeys",
	31: "HostVolumeSnapshot", // sic, as Nomad prints it
	64: "Namespace",
}

// typeName names a record type byte for a flavour. known is false when the
// byte is not in the flavour's table; ignorable reports Consul's
// IgnoreUnknownTypeFlag.
func typeName(flavor Flavor, typ byte) (name string, known, ignorable bool) {
	switch flavor {
	case Consul:
		base := typ
		if typ&consulIgnoreUnknownFlag != 0 {
			base = typ &^ consulIgnoreUnknownFlag
			ignorable = true
		}
		if n, ok := consulTypeNames[base]; ok {
			return n, true, ignorable
		}
		if base >= consulEnterpriseFloor {
			return fmt.Sprintf("unknown(%d, enterprise range)", typ), false, ignorable
		}
	case Nomad:
		if n, ok := nomadTypeNames[typ]; ok {
			return n, true, false
		}
	}
	return fmt.Sprintf("unknown(%d)", typ), false, ignorable
}
