/**
 * Whether a WebGPU adapter is a Vulkan driver running on the CPU (Mesa's lavapipe/llvmpipe,
 * SwiftShader), from its vendor/description text. Used by the adapter choice, the memory budget
 * and `--backend auto`. No Dawn import, so the registry can use it without opening a device.
 */
export function isSoftwareAdapter(description: string): boolean {
  return /llvmpipe|lavapipe|swiftshader/i.test(description);
}
