/* Syscall arguments and results as the raw sys_enter/sys_exit tracepoints hand them over:
 * (struct pt_regs *regs, long id) at enter and (regs, long ret) at exit. The pt_regs offsets
 * of the argument registers (OFF_REGS_PARM*) come from BTF, per architecture. */
#ifndef SNIFF_SYSARGS_H
#define SNIFF_SYSARGS_H

struct raw_sys_ctx {
    u64 args[2];
};

/* Syscall argument i (0..5), read from the user registers. */
static __always_inline u64 sysarg(struct raw_sys_ctx *ctx, int i)
{
    u64 v = 0;
    u32 off = i == 0 ? OFF_REGS_PARM1 : i == 1 ? OFF_REGS_PARM2 : i == 2 ? OFF_REGS_PARM3
            : i == 3 ? OFF_REGS_PARM4 : i == 4 ? OFF_REGS_PARM5 : OFF_REGS_PARM6;
    bpf_probe_read_kernel(&v, sizeof(v), (char *)ctx->args[0] + off);
    return v;
}

/* An argument that the kernel reads as an int (fd, dirfd): sign-extended. */
static __always_inline s64 sysarg_int(struct raw_sys_ctx *ctx, int i)
{
    return (s64)(s32)sysarg(ctx, i);
}

static __always_inline u64 sysnr(struct raw_sys_ctx *ctx)
{
    return ctx->args[1];
}

static __always_inline s64 sysret(struct raw_sys_ctx *ctx)
{
    return (s64)ctx->args[1];
}

#endif
