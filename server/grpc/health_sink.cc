#include "server/grpc/health_sink.h"

#include "absl/strings/str_cat.h"

namespace wxtoken::server {
namespace {

// The config refuses an app called "leader".
std::string LeaderService() { return absl::StrCat(kServiceName, "/leader"); }

}  // namespace

GrpcHealthSink::GrpcHealthSink(const std::vector<std::string>& app_ids) {
  absl::MutexLock lock(&mu_);
  Set("", false);
  Set(kServiceName, false);
  Set(LeaderService(), false);
  for (const std::string& app_id : app_ids) {
    Set(absl::StrCat(kServiceName, "/", app_id), false);
  }
}

void GrpcHealthSink::Attach(grpc::HealthCheckServiceInterface* health) {
  absl::MutexLock lock(&mu_);
  health_.push_back(health);
  for (const auto& [service, serving] : serving_) {
    health->SetServingStatus(service, serving);
  }
  if (shutting_down_) health->Shutdown();
}

void GrpcHealthSink::Set(const std::string& service, bool serving) {
  serving = serving && !shutting_down_;
  serving_[service] = serving;
  for (grpc::HealthCheckServiceInterface* health : health_) {
    health->SetServingStatus(service, serving);
  }
}

void GrpcHealthSink::SetAppServing(const std::string& app_id, bool serving) {
  absl::MutexLock lock(&mu_);
  Set(absl::StrCat(kServiceName, "/", app_id), serving);
}

void GrpcHealthSink::SetAllAppsServing(bool serving) {
  absl::MutexLock lock(&mu_);
  Set(kServiceName, serving);
}

void GrpcHealthSink::SetStartupDone() {
  absl::MutexLock lock(&mu_);
  Set("", true);
}

void GrpcHealthSink::SetLeader(bool leader) {
  absl::MutexLock lock(&mu_);
  Set(LeaderService(), leader);
}

void GrpcHealthSink::SetShuttingDown() {
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;
  for (auto& [service, serving] : serving_) Set(service, false);
  // Also makes the default health service answer NOT_SERVING for names never
  // registered, and end Watch streams.
  for (grpc::HealthCheckServiceInterface* health : health_) {
    health->Shutdown();
  }
}

}  // namespace wxtoken::server
