#ifndef WXTOKEN_SERVER_GRPC_HEALTH_SINK_H_
#define WXTOKEN_SERVER_GRPC_HEALTH_SINK_H_

#include <grpcpp/health_check_service_interface.h>

#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/token/observers.h"

namespace wxtoken::server {

inline constexpr char kServiceName[] = "wxtoken.v1.TokenController";

// Applies the engine's health view to grpc.health.v1 (DESIGN.md "Health"):
//   ""                                  SERVING after startup, until shutdown
//   "wxtoken.v1.TokenController"        SERVING while every app has a token
//   "wxtoken.v1.TokenController/<app>"  SERVING while that app has one
//   "wxtoken.v1.TokenController/leader" SERVING while this replica fetches
// The gRPC health service exists only once the server is built, so statuses
// are kept here and applied on Attach(). Thread-safe.
class GrpcHealthSink final : public HealthSink {
 public:
  // Every service starts NOT_SERVING.
  explicit GrpcHealthSink(const std::vector<std::string>& app_ids);

  // Applies the statuses so far and every later change to `health` (one
  // per listener: `listen`, and health_listen's).
  void Attach(grpc::HealthCheckServiceInterface* health);

  void SetAppServing(const std::string& app_id, bool serving) override;
  void SetAllAppsServing(bool serving) override;
  void SetStartupDone() override;
  void SetLeader(bool leader) override;

  // Shutdown: every service NOT_SERVING from now on.
  void SetShuttingDown();

 private:
  void Set(const std::string& service, bool serving)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::vector<grpc::HealthCheckServiceInterface*> health_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, bool> serving_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_GRPC_HEALTH_SINK_H_
