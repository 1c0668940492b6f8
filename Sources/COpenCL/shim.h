#define CL_TARGET_OPENCL_VERSION 120
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>

// cl_khr_command_buffer (provisional; PoCL 3.1 reports version 0.9.0), declared here rather
// than taken from cl_ext.h so that the build does not depend on which revision the headers
// carry. The entry points come from clGetExtensionFunctionAddressForPlatform at run time.
typedef struct _cl_command_buffer_khr *glow_cl_command_buffer;
typedef glow_cl_command_buffer (*glow_clCreateCommandBufferKHR)(cl_uint num_queues, const cl_command_queue *queues,
                                                                const cl_ulong *properties, cl_int *errcode_ret);
typedef cl_int (*glow_clCommandNDRangeKernelKHR)(glow_cl_command_buffer command_buffer, cl_command_queue command_queue,
                                                 const cl_ulong *properties, cl_kernel kernel, cl_uint work_dim,
                                                 const size_t *global_work_offset, const size_t *global_work_size,
                                                 const size_t *local_work_size, cl_uint num_sync_points_in_wait_list,
                                                 const cl_uint *sync_point_wait_list, cl_uint *sync_point,
                                                 void **mutable_handle);
typedef cl_int (*glow_clFinalizeCommandBufferKHR)(glow_cl_command_buffer command_buffer);
typedef cl_int (*glow_clEnqueueCommandBufferKHR)(cl_uint num_queues, cl_command_queue *queues,
                                                 glow_cl_command_buffer command_buffer, cl_uint num_events_in_wait_list,
                                                 const cl_event *event_wait_list, cl_event *event);
typedef cl_int (*glow_clReleaseCommandBufferKHR)(glow_cl_command_buffer command_buffer);
