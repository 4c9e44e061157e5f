// What wxtokend's 2 s config tick costs with many apps, each with its
// AppSecret in a file (Google Benchmark): reading and parsing the config
// again (LoadConfig, what every tick did before) against stat() of every
// file the last read read (StampFiles, what an idle tick does now).
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/config/config.h"
#include "server/config/file_stamps.h"

namespace {

// A config of `apps` apps, each with its own secret file, in a temporary
// directory (removed at exit).
struct Apps {
  explicit Apps(int apps) {
    std::string pattern = "/tmp/config_tick.XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    dir = pattern;
    std::string yaml = "listen: \"127.0.0.1:0\"\nstate_dir: \"\"\napps:\n";
    for (int i = 0; i < apps; ++i) {
      const std::string secret = absl::StrCat(dir, "/app", i, ".secret");
      std::ofstream(secret) << "bench-secret-" << i << "\n";
      absl::StrAppend(&yaml, "  - app_id: \"wxtick", 100000000000 + i,
                      "\"\n    secret_file: \"", secret, "\"\n");
    }
    path = dir + "/wxtokend.yaml";
    std::ofstream(path) << yaml;
    if (!wxtoken::server::LoadConfig(path, &files).ok()) std::abort();
  }
  ~Apps() { std::filesystem::remove_all(dir); }
  std::string dir;
  std::string path;
  std::vector<std::string> files;
};

void BM_ReadAndParse(benchmark::State& state) {
  Apps apps(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto config = wxtoken::server::LoadConfig(apps.path);
    benchmark::DoNotOptimize(config);
  }
}
BENCHMARK(BM_ReadAndParse)->Arg(100)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_StatEveryFile(benchmark::State& state) {
  Apps apps(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto stamps = wxtoken::server::StampFiles(apps.files);
    benchmark::DoNotOptimize(stamps);
  }
}
BENCHMARK(BM_StatEveryFile)
    ->Arg(100)
    ->Arg(10000)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
