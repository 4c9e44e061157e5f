#ifndef WXTOKEN_TESTS_FUZZ_FUZZ_CHECK_H_
#define WXTOKEN_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

// A property the fuzzer found violated: print it and abort, which libFuzzer
// reports as a crash and saves the input for.
#define WXTOKEN_FUZZ_CHECK(condition)                                  \
  do {                                                                 \
    if (!(condition)) {                                                \
      std::fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, \
                   __LINE__, #condition);                              \
      std::abort();                                                    \
    }                                                                  \
  } while (false)

#endif  // WXTOKEN_TESTS_FUZZ_FUZZ_CHECK_H_
