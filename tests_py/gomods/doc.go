// Package gomods holds small Go modules for tests_py/test_gostats.py: two
// registering packages (two, three) and two c-shared libraries built from
// them, libtwo (gotwo alone, a second Go runtime next to gostats) and
// libboth (gotwo and gothree in one library, each its own Python module);
// and kept with libkept (gokept: borrowed slices kept after their call,
// for tests_py/test_gochecked.py).
package gomods
