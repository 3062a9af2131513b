package client

import (
	"strings"
	"testing"

	"github.com/raftsnap/raftsnap/snapshot/source"
)

// TestSourceFlagsDeriveFromRegistry: every registered kind is offered by
// shell completion of --source and named in the help, with its variables.
func TestSourceFlagsDeriveFromRegistry(t *testing.T) {
	for _, cmd := range []string{"save", "restore"} {
		completion := mustRaftsnap(t, "__complete", "snapshot", cmd, "--source", "")
		help := mustRaftsnap(t, "snapshot", cmd, "--help")
		for _, spec := range source.Kinds() {
			if !strings.Contains(completion.stdout, string(spec.Kind)+"\t"+spec.Title+"\n") {
				t.Errorf("%s: completion of --source lacks %s:\n%s", cmd, spec.Kind, completion.stdout)
			}
			for _, env := range []string{spec.Env.Address, spec.Env.Token} {
				if env != "" && !strings.Contains(help.stdout, env) {
					t.Errorf("%s --help does not name %s:\n%s", cmd, env, help.stdout)
				}
			}
		}
		if !strings.Contains(help.stdout, "source kind: "+source.KindNames()) {
			t.Errorf("%s --help does not list the kinds:\n%s", cmd, help.stdout)
		}
	}
}
