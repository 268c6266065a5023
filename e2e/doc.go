// Package e2e holds whole-pipeline tests: the real binaries built from cmd/, run as separate
// processes against real servers, so a kill is a real kill and a flag is parsed as an operator
// would type it.
package e2e
