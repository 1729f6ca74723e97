# Reel's one image: `reel silo --model`, `reel gateway` or `reel serve`, chosen by the command (the Helm chart sets it).
#   docker build -t reel .                                   CPU (default)
#   docker build -t reel:cuda --build-arg VARIANT=cuda .     GPU pools: TorchSharp's CUDA libtorch on an NVIDIA CUDA runtime
# Weights: baked in (the repository's models/ folder, the shipped weights, is copied beside the program, where
# `reel` finds it by default), or mounted at run time and named with --weights / REEL__WEIGHTS.
ARG VARIANT=cpu

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG VARIANT
WORKDIR /src
COPY . .
RUN dotnet publish src/Reel.Cli/Reel.Cli.csproj -c Release -o /app \
      -p:ReelGpu=$([ "$VARIANT" = cuda ] && echo true || echo false) \
 && rm -rf /app/*.pdb \
 && if [ -d models ]; then cp -r models /app/models; fi

# The runtime bases: ASP.NET for CPU; for CUDA the NVIDIA runtime with the ASP.NET runtime added.
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS base-cpu

FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 AS base-cuda
COPY --from=mcr.microsoft.com/dotnet/aspnet:10.0 /usr/share/dotnet /usr/share/dotnet
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet
ENV NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility

FROM base-${VARIANT} AS final
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg libgomp1 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 reel \
 && useradd --system --uid 10001 --gid reel --home-dir /var/lib/reel --create-home reel
COPY --from=build /app /opt/reel
# Shipped weights, when the repository has them, are found next to the program (models/ beside reel.dll).
ENV DOTNET_GCgen0size=0x800000 \
    XDG_DATA_HOME=/var/lib/reel/data \
    XDG_CONFIG_HOME=/var/lib/reel/config \
    ASPNETCORE_URLS=
USER 10001:10001
WORKDIR /var/lib/reel
# 8080 HTTP (API, health), 11111 silo-to-silo, 30000 client gateway.
EXPOSE 8080 11111 30000
ENTRYPOINT ["dotnet", "/opt/reel/reel.dll"]
CMD ["serve"]
