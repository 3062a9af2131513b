package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/raftsnap/raftsnap/snapshot/retention"
)

// ruleKeys are the keys of a keep rule, in the order documented.
var ruleKeys = []string{"last_n", "grid", "calendar", "within", "regex", "last_drilled"}

// Policy builds the retention policy these rules describe. Parse has
// already checked that it builds; the daemon calls this at start.
func (p *Pruning) Policy() (*retention.Policy, error) {
	if p == nil || len(p.Keep) == 0 {
		return nil, errors.New("no keep rules")
	}
	rules := make([]retention.Rule, 0, len(p.Keep))
	for i := range p.Keep {
		rule, err := p.Keep[i].Rule()
		if err != nil {
			return nil, fmt.Errorf("keep[%d]: %w", i, err)
		}
		rules = append(rules, rule)
	}
	return retention.NewPolicy(rules...)
}

// Rule builds the one retention rule this entry holds.
func (r *KeepRule) Rule() (retention.Rule, error) {
	switch {
	case r.LastN != nil:
		return retention.NewLastN(r.LastN.Count)
	case r.LastDrilled != nil:
		return retention.NewLastDrilled(r.LastDrilled.Count)
	case r.Grid != nil:
		return retention.ParseGrid(*r.Grid)
	case r.Calendar != nil:
		return retention.NewCalendar(retention.CalendarSpec{
			Hourly:   r.Calendar.Hourly,
			Daily:    r.Calendar.Daily,
			Weekly:   r.Calendar.Weekly,
			Monthly:  r.Calendar.Monthly,
			Yearly:   r.Calendar.Yearly,
			Timezone: r.Calendar.Timezone,
		})
	case r.Within != nil:
		return retention.NewWithin(r.Within.Std())
	case r.Regex != nil:
		return retention.NewRegex(r.Regex.Regex, r.Regex.Negate)
	}
	return nil, errors.New("empty rule: use one of " + strings.Join(ruleKeys, ", "))
}

func (v *validator) validatePruning(path string, p *Pruning, owners []string) {
	keepPath := path + ".keep"
	if !v.checkable(keepPath) {
		return
	}
	if len(p.Keep) == 0 {
		v.errorf(keepPath, "missing: give at least one keep rule, e.g. keep: [{last_n: {count: 24}}]")
		return
	}
	var rules []retention.Rule
	allBuilt := true
	for i := range p.Keep {
		rulePath := fmt.Sprintf("%s[%d]", keepPath, i)
		rule := v.validateRule(rulePath, &p.Keep[i])
		if rule == nil {
			allBuilt = false
			continue
		}
		if r := p.Keep[i].Regex; r != nil && len(owners) > 0 {
			v.checkRegexCanKeep(rulePath+".regex.regex", r, owners)
		}
		rules = append(rules, rule)
	}
	if !allBuilt {
		return
	}
	if _, err := retention.NewPolicy(rules...); err != nil {
		v.errorf(keepPath, "%v", err)
	}
}

// validateRule checks one keep rule and returns it built, or nil after
// reporting why it cannot be.
func (v *validator) validateRule(path string, r *KeepRule) retention.Rule {
	if !v.checkable(path) {
		return nil
	}
	var present []string
	for _, key := range ruleKeys {
		if _, ok := v.keys[path+"."+key]; ok {
			present = append(present, key)
		}
	}
	switch len(present) {
	case 0:
		v.errorf(path, "empty rule: use one of %s", strings.Join(ruleKeys, ", "))
		return nil
	case 1:
	default:
		v.keyErrorf(path+"."+present[1], "one rule per list item: %s and %s are both here; put each in its own - item",
			present[0], present[1])
		return nil
	}
	key := present[0]
	rulePath := path + "." + key
	if v.failedUnder(rulePath) {
		return nil
	}
	if !v.isSet(rulePath) {
		v.errorf(rulePath, "has no value")
		return nil
	}
	switch key {
	case "last_n", "last_drilled":
		switch {
		case !v.isSet(rulePath + ".count"):
			what := "how many of the newest snapshots to keep"
			if key == "last_drilled" {
				what = "how many of the newest snapshots proven restorable by a drill to keep"
			}
			v.errorf(rulePath+".count", "missing: %s", what)
			return nil
		case key == "last_n" && r.LastN.Count <= 0:
			v.errorf(rulePath+".count", "must be at least 1, got %d", r.LastN.Count)
			return nil
		case key == "last_drilled" && r.LastDrilled.Count <= 0:
			v.errorf(rulePath+".count", "must be at least 1, got %d", r.LastDrilled.Count)
			return nil
		}
	case "calendar":
		c := r.Calendar
		bad := false
		for name, n := range map[string]int{"hourly": c.Hourly, "daily": c.Daily, "weekly": c.Weekly, "monthly": c.Monthly, "yearly": c.Yearly} {
			if n < 0 {
				v.errorf(rulePath+"."+name, "must not be negative, got %d", n)
				bad = true
			}
		}
		if bad {
			return nil
		}
		if c.Hourly+c.Daily+c.Weekly+c.Monthly+c.Yearly == 0 {
			v.errorf(rulePath, "keeps nothing: set at least one of hourly, daily, weekly, monthly, yearly above 0")
			return nil
		}
	case "within":
		if *r.Within <= 0 {
			v.errorf(rulePath, "must be positive, got %s", *r.Within)
			return nil
		}
	case "regex":
		if !v.isSet(rulePath + ".regex") {
			v.errorf(rulePath+".regex", "missing: the regular expression snapshot names are matched against")
			return nil
		}
	}
	rule, err := r.Rule()
	if err != nil {
		errPath := rulePath
		if key == "regex" {
			errPath = rulePath + ".regex"
		}
		v.errorf(errPath, "%v", err)
		return nil
	}
	return rule
}

// checkRegexCanKeep refuses a regex rule that can keep none of the owners'
// snapshots: it is matched against the names a store gives them
// ("<job>-<yyyymmddThhmmssZ>-<index>.snap"), and one written for another
// job's names, or a misspelt one, would silently keep nothing. The check
// tries a spread of times and indexes, so a rule that keeps only some
// (midnight snapshots, say) passes.
func (v *validator) checkRegexCanKeep(path string, r *Regex, owners []string) {
	re, err := regexp.Compile(r.Regex)
	if err != nil || !v.checkable(path) {
		return
	}
	for _, job := range owners {
		for _, name := range sampleNames(job) {
			if re.MatchString(name) != r.Negate {
				return
			}
		}
	}
	what := "matches none of"
	if r.Negate {
		what = "matches every one of"
	}
	v.errorf(path, "%s %s the names of job %s's snapshots (such as %s), so this rule keeps nothing",
		quote(r.Regex), what, owners[0], sampleNames(owners[0])[0])
}

// sampleNames are names a store gives job's snapshots, spread over the
// years, months, days, hours, minutes and index digits a rule may select.
func sampleNames(job string) []string {
	var names []string
	t := time.Date(2026, 11, 22, 5, 10, 0, 0, time.UTC)
	index := uint64(12345)
	for i := 0; i < 2000; i++ {
		suffix := ""
		if i%7 == 3 {
			suffix = "-2" // a second snapshot in the same second
		}
		names = append(names, fmt.Sprintf("%s-%s-%d%s.snap", job, t.Format("20060102T150405Z"), index, suffix))
		t = t.Add(time.Duration(37*60+i%60) * time.Minute).Add(time.Duration(i%59) * time.Second)
		index = index*7 + uint64(i%10) + 1
	}
	return names
}
