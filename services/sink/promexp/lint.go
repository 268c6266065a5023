package promexp

import "regexp"

// KnownLint are the `promtool check metrics` lint findings that compatibility forces:
// node_exporter's meminfo names are camelCase, NPD's problem_counter is a counter without
// _total and both NPD names carry their type. Renaming them would break the dashboards and
// rules this output exists for, so tests accept these findings and fail on any other.
var KnownLint = []*regexp.Regexp{
	regexp.MustCompile(`^node_memory_[A-Za-z]+_bytes metric names should be written in 'snake_case' not 'camelCase'$`),
	regexp.MustCompile(`^problem_counter counter metrics should have "_total" suffix$`),
	regexp.MustCompile(`^problem_counter metric name should not include type 'counter'$`),
	regexp.MustCompile(`^problem_gauge metric name should not include type 'gauge'$`),
}
