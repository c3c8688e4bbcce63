! zelos from Fortran through iso_c_binding: a module of interfaces to include/zelos.h and a
! program that loads an emulator, checks a point against its trust region, evaluates it and
! its Jacobian, and prints everything.
!
! Build: gfortran examples/fortran/zelos_example.f90 -Ltarget/release -lzelos \
!            -Wl,-rpath,$PWD/target/release -o zelos_example
! Run:   ./zelos_example camb-lcdm-tt.tar.gz 0.0224 0.120 67.5 0.965 3.05 0.054
!        (the point in the emulator's parameter order)
! The test suite compiles and runs this file (tests/capi.rs).
module zelos
  use, intrinsic :: iso_c_binding
  implicit none

  integer(c_int), parameter :: ZELOS_OK = 0, ZELOS_ERR_SPEC = 1, ZELOS_ERR_ARCHIVE = 2, &
      ZELOS_ERR_MODEL = 3, ZELOS_ERR_PARAMETERS = 4, ZELOS_ERR_OUT_OF_RANGE = 5, &
      ZELOS_ERR_IO = 6, ZELOS_ERR_INVALID_ARGUMENT = 7, ZELOS_ERR_PANIC = 8, &
      ZELOS_ERR_OUT_OF_MEMORY = 9

  interface
    ! Errors. Both return C strings: turn them into Fortran strings with f_string.
    type(c_ptr) function zelos_last_error_message() bind(C, name="zelos_last_error_message")
      import :: c_ptr
    end function
    type(c_ptr) function zelos_error_name(code) bind(C, name="zelos_error_name")
      import :: c_ptr, c_int
      integer(c_int), value :: code
    end function

    ! Loading and freeing. path ends with c_null_char.
    integer(c_int) function zelos_emulator_load(path, out) bind(C, name="zelos_emulator_load")
      import :: c_int, c_char, c_ptr
      character(kind=c_char), dimension(*), intent(in) :: path
      type(c_ptr), intent(out) :: out
    end function
    subroutine zelos_emulator_free(emu) bind(C, name="zelos_emulator_free")
      import :: c_ptr
      type(c_ptr), value :: emu
    end subroutine

    ! Description. Indices count from 0, as in C.
    integer(c_size_t) function zelos_emulator_n_parameters(emu) bind(C, name="zelos_emulator_n_parameters")
      import :: c_ptr, c_size_t
      type(c_ptr), value :: emu
    end function
    type(c_ptr) function zelos_emulator_parameter_name(emu, i) bind(C, name="zelos_emulator_parameter_name")
      import :: c_ptr, c_size_t
      type(c_ptr), value :: emu
      integer(c_size_t), value :: i
    end function
    integer(c_size_t) function zelos_emulator_n_outputs(emu) bind(C, name="zelos_emulator_n_outputs")
      import :: c_ptr, c_size_t
      type(c_ptr), value :: emu
    end function
    integer(c_size_t) function zelos_emulator_n_named_outputs(emu) bind(C, name="zelos_emulator_n_named_outputs")
      import :: c_ptr, c_size_t
      type(c_ptr), value :: emu
    end function
    integer(c_int) function zelos_emulator_output_info(emu, i, name, offset, len) &
        bind(C, name="zelos_emulator_output_info")
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: emu
      integer(c_size_t), value :: i
      type(c_ptr), intent(out) :: name
      integer(c_size_t), intent(out) :: offset, len
    end function

    ! Evaluation. x(n_parameters); out(n_outputs); jac(n_parameters, n_outputs), that is
    ! jac(j, i) = d out(i) / d x(j) (C's row-major [n_outputs, n_parameters]).
    integer(c_int) function zelos_emulator_eval(emu, x, n_params, out, n_out) bind(C, name="zelos_emulator_eval")
      import :: c_int, c_ptr, c_double, c_size_t
      type(c_ptr), value :: emu
      real(c_double), dimension(*), intent(in) :: x
      integer(c_size_t), value :: n_params
      real(c_double), dimension(*), intent(out) :: out
      integer(c_size_t), value :: n_out
    end function
    ! x(n_parameters, n_points) in, out(n_outputs, n_points) out: Fortran's column-major
    ! arrays are C's row-major [n_points, n_parameters] and [n_points, n_outputs].
    integer(c_int) function zelos_emulator_eval_batch(emu, x, n_points, out) bind(C, name="zelos_emulator_eval_batch")
      import :: c_int, c_ptr, c_double, c_size_t
      type(c_ptr), value :: emu
      real(c_double), dimension(*), intent(in) :: x
      integer(c_size_t), value :: n_points
      real(c_double), dimension(*), intent(out) :: out
    end function
    integer(c_int) function zelos_emulator_jacobian(emu, x, out, jac) bind(C, name="zelos_emulator_jacobian")
      import :: c_int, c_ptr, c_double
      type(c_ptr), value :: emu
      real(c_double), dimension(*), intent(in) :: x
      real(c_double), dimension(*), intent(out) :: out, jac
    end function

    ! Where the emulator may answer.
    integer(c_int) function zelos_emulator_check_point(emu, x) bind(C, name="zelos_emulator_check_point")
      import :: c_int, c_ptr, c_double
      type(c_ptr), value :: emu
      real(c_double), dimension(*), intent(in) :: x
    end function
    integer(c_int) function zelos_emulator_trust(emu, x, inside, distance) bind(C, name="zelos_emulator_trust")
      import :: c_int, c_ptr, c_double
      type(c_ptr), value :: emu
      real(c_double), dimension(*), intent(in) :: x
      integer(c_int), intent(out) :: inside
      real(c_double), intent(out) :: distance
    end function

    integer(c_size_t) function c_strlen(s) bind(C, name="strlen")
      import :: c_ptr, c_size_t
      type(c_ptr), value :: s
    end function
  end interface

contains

  ! A C string (owned by zelos) copied into a Fortran string; "" for NULL.
  function f_string(p) result(s)
    type(c_ptr), intent(in) :: p
    character(len=:), allocatable :: s
    character(kind=c_char), pointer :: chars(:)
    integer :: i, n
    if (.not. c_associated(p)) then
      s = ""
      return
    end if
    n = int(c_strlen(p))
    call c_f_pointer(p, chars, [n])
    allocate(character(len=n) :: s)
    do i = 1, n
      s(i:i) = chars(i)
    end do
  end function

  ! Stops the program with zelos' reason for a failed call.
  subroutine check(rc, what)
    integer(c_int), intent(in) :: rc
    character(len=*), intent(in) :: what
    if (rc /= ZELOS_OK) then
      write (*, '(a)') "zelos: " // what // " failed: code " // itoa(int(rc)) // " (" // &
          f_string(zelos_error_name(rc)) // "): " // f_string(zelos_last_error_message())
      error stop 1
    end if
  end subroutine

  function itoa(i) result(s)
    integer, intent(in) :: i
    character(len=:), allocatable :: s
    character(len=24) :: buf
    write (buf, '(i0)') i
    s = trim(buf)
  end function
end module zelos

program zelos_example
  use zelos
  implicit none
  type(c_ptr) :: emu
  integer(c_size_t) :: p, n, k, offset, len
  integer(c_int) :: inside
  real(c_double) :: distance
  real(c_double), allocatable :: x(:), out(:), out2(:), jac(:, :)
  type(c_ptr) :: name
  character(len=4096) :: arg
  integer :: i, j

  if (command_argument_count() < 1) then
    write (*, '(a)') "usage: zelos_example ARCHIVE X_1 ... X_P"
    error stop 2
  end if
  call get_command_argument(1, arg)
  call check(zelos_emulator_load(trim(arg) // c_null_char, emu), "loading " // trim(arg))

  p = zelos_emulator_n_parameters(emu)
  n = zelos_emulator_n_outputs(emu)
  write (*, '(a, i0, a, i0, a, i0)') "n_parameters ", p, " n_outputs ", n, &
      " n_named_outputs ", zelos_emulator_n_named_outputs(emu)
  if (command_argument_count() /= p + 1) then
    write (*, '(a, i0, a)') "give the point: ", p, " numbers, in the order of the parameters"
    call zelos_emulator_free(emu)
    error stop 2
  end if

  allocate(x(p), out(n), out2(n), jac(p, n))
  do j = 1, int(p)
    call get_command_argument(j + 1, arg)
    read (arg, *) x(j)
    write (*, '(a, i0, 1x, a, a, es25.17e3)') "parameter ", j, &
        f_string(zelos_emulator_parameter_name(emu, int(j - 1, c_size_t))), " = ", x(j)
  end do
  do k = 0, zelos_emulator_n_named_outputs(emu) - 1
    call check(zelos_emulator_output_info(emu, k, name, offset, len), "output_info")
    write (*, '(a, i0, 1x, a, a, i0, a, i0)') "output ", k, f_string(name), " offset ", offset, " len ", len
  end do

  ! The trust region first: outside it the emulator's answer is an extrapolation.
  call check(zelos_emulator_trust(emu, x, inside, distance), "trust")
  if (inside == 1) then
    write (*, '(a, es25.17e3)') "trust: inside, distance ", distance
  else
    write (*, '(a)') "trust: outside: " // f_string(zelos_last_error_message())
  end if

  call check(zelos_emulator_eval(emu, x, p, out, n), "eval")
  call check(zelos_emulator_jacobian(emu, x, out2, jac), "jacobian")
  do i = 1, int(n)
    ! out(i), then d out(i) / d x(j) for j = 1..p
    write (*, '(a, i0, *(1x, es25.17e3))') "out ", i, out(i), jac(:, i)
  end do
  write (*, '(a, es10.3e3)') "jacobian's outputs differ from eval's by at most ", maxval(abs(out2 - out))

  call zelos_emulator_free(emu)
end program zelos_example
