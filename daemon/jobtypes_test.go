package daemon

import (
	"testing"

	"github.com/raftsnap/raftsnap/config"
)

func TestEveryJobTypeHasABuilder(t *testing.T) {
	for _, jt := range config.JobTypes() {
		if jobBuilders[jt.Name] == nil {
			t.Errorf("job type %s has no builder in jobBuilders", jt.Name)
		}
	}
	if len(jobBuilders) != len(config.JobTypes()) {
		t.Errorf("jobBuilders has %d entries for %d job types", len(jobBuilders), len(config.JobTypes()))
	}
}
